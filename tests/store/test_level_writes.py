"""Level writes (store.level_writes): one per write transaction and level, and numbers that never
shift. A KV path's version N is the N-th counted write of its levels; if a write that took an
earlier id could commit after a later one, a reader would see version N name one write and then
another. Concurrent account and stack writers, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

from stacksafe.core.installation import Installation
from stacksafe.core.kv.versions import path_history
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from stacksafe.store.level_writes import level_write
from tests.actors import LOCAL

WRITERS = 4
WRITES = 12


def test_one_level_write_per_transaction_and_level(
    installation: Installation, stack_target: Target
) -> None:
    account = stack_target.account

    def work(conn):  # type: ignore[no-untyped-def]
        now = installation.clock()
        first = level_write(conn, account.id, None, now)
        assert level_write(conn, account.id, None, now) == first
        other = level_write(conn, account.id, stack_target.stack_id, now)
        assert other != first
        return first

    one = installation.store.transact(work, "test")
    two = installation.store.transact(work, "test")
    assert two > one  # a new transaction, a new write


def test_version_numbers_never_name_two_writes_under_concurrent_writers(
    installation: Installation, stack_target: Target
) -> None:
    account_level = Target(stack_target.account)
    seen: dict[int, int] = {}  # version -> the write it named when first seen
    shifted: list[tuple[int, int, int]] = []
    done = threading.Event()
    failures: list[BaseException] = []

    def write(n: int) -> None:
        target = account_level if n % 2 else stack_target
        try:
            for i in range(WRITES):
                set_secret(installation, LOCAL, target, f"K{n}", SecretValue(f"{n}-{i}"))
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    def read() -> None:
        while not done.is_set():
            with installation.store.read() as conn:
                history = path_history(conn, stack_target)
            for version in history.versions:
                first = seen.setdefault(version.number, version.write_id)
                if first != version.write_id:
                    shifted.append((version.number, first, version.write_id))

    reader = threading.Thread(target=read)
    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    assert not failures
    assert not shifted
    with installation.store.read() as conn:
        final = path_history(conn, stack_target)
    assert final.current == WRITERS * WRITES  # every write, account and stack, one version
    assert [v.write_id for v in final.versions] == sorted(v.write_id for v in final.versions)
