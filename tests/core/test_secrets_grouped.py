"""Writes of secrets that arrive while another write commits share its next transaction
(store.write_group; on PostgreSQL, writes of one level), and each is still a write of its own:
its own version, its own KV path version, its own audit event in the intact chain, its own
error, nothing of it left when it fails."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select, text

from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import get_secret, set_secret, set_secret_later, unset_secret
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.errors import AuditUnavailable, Conflict, NotFound, PreconditionFailed
from stacksafe.model import SecretValue
from stacksafe.store.level_writes import path_write_count
from stacksafe.store.schema import audit_events, data_keys, level_writes, secret_versions
from tests.actors import LOCAL
from tests.store.scratch import wait_until


def behind_a_held_group(
    installation: Installation,
    pool: ThreadPoolExecutor,
    writes: list[Callable[[], Any]],
    target: Target,
) -> list[Future[Any]]:
    """Hold a group's transaction open, start ``writes`` of ``target`` (a thread each)
    meanwhile, and let it commit once they all wait: they are the next group (on PostgreSQL
    a group is one level's writes)."""
    level = (target.account.id, target.stack_id)
    group = installation.store.write_group(level)
    assert group is not None
    started, release = threading.Event(), threading.Event()

    def holding(conn: Connection) -> None:
        started.set()
        assert release.wait(30), "the test never released the first group"

    first = pool.submit(installation.store.transact, holding, "holding", grouped=True, level=level)
    assert started.wait(30)
    futures = [pool.submit(write) for write in writes]
    wait_until(lambda: group.waiting == len(writes), f"{len(writes)} writes wait")
    release.set()
    first.result(30)
    return futures


def commits_of(installation: Installation) -> list[int]:
    commits: list[int] = []
    event.listen(installation.store.engine, "commit", lambda conn: commits.append(1))
    return commits


def counts(installation: Installation) -> tuple[int, int, int]:
    """(versions, level writes, audit events) stored."""
    with installation.store.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (secret_versions, level_writes, audit_events)
        )


def put(installation: Installation, target: Target, key: str, value: str, **kw: Any) -> Any:
    return lambda: set_secret(installation, LOCAL, target, key, SecretValue(value), **kw)


def test_concurrent_writes_commit_together_each_a_write_of_its_own(
    installation: Installation, stack_target: Target
) -> None:
    kv_before = _kv_version(installation, stack_target)
    with installation.store.read() as conn:
        seq_before = conn.execute(select(func.max(audit_events.c.seq))).scalar_one()
    commits = commits_of(installation)
    writes = [put(installation, stack_target, f"K{n}", f"value {n}") for n in range(8)]
    writes += [put(installation, stack_target, "SHARED", f"shared {n}") for n in range(4)]
    writes.append(lambda: unset_secret(installation, LOCAL, stack_target, "K0"))
    with ThreadPoolExecutor(len(writes) + 1) as pool:
        results = [
            f.result(30) for f in behind_a_held_group(installation, pool, writes, stack_target)
        ]

    assert len(commits) == 2  # the held group, then 13 writes in one transaction
    assert [r.version for r in results[:12]] == [1] * 8 + [1, 2, 3, 4]  # in submission order
    assert get_secret(installation, LOCAL, stack_target, "SHARED", reveal=True).raw_value == (
        SecretValue("shared 3")
    )
    found = get_secret(installation, LOCAL, stack_target, "K5", reveal=True)
    assert found.raw_value == SecretValue("value 5")
    # Each write is a KV version of the stack's path, as in a transaction of its own.
    assert _kv_version(installation, stack_target) == kv_before + 13
    with installation.store.read() as conn:
        actions = conn.execute(
            select(audit_events.c.action, audit_events.c.detail)
            .where(audit_events.c.seq > seq_before, audit_events.c.action != "reveal")
            .order_by(audit_events.c.seq)
        ).all()
    assert [a for a, _ in actions] == ["secret.set"] * 12 + ["secret.unset"]
    assert '"SHARED":4' in actions[11].detail
    assert verify_chain(installation).intact


def test_a_write_that_fails_in_a_group_fails_alone_and_leaves_nothing(
    installation: Installation, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, stack_target, "K", SecretValue("v1"))
    before = counts(installation)
    kv_before = _kv_version(installation, stack_target)
    writes = [
        put(installation, stack_target, "A", "a"),
        put(installation, stack_target, "BROKEN", "${NOPE}"),  # the check on references
        put(installation, stack_target, "K", "lost", expected_version=5),  # K is at 1
        put(installation, stack_target, "K", "v2", expected_version=1),
        put(installation, stack_target, "Z", "z"),
    ]
    with ThreadPoolExecutor(len(writes) + 1) as pool:
        futures = behind_a_held_group(installation, pool, writes, stack_target)
        assert futures[0].result(30).version == 1
        with pytest.raises(Conflict, match=r"\$\{NOPE\}"):
            futures[1].result(30)
        with pytest.raises(PreconditionFailed):
            futures[2].result(30)
        assert futures[3].result(30).version == 2
        assert futures[4].result(30).version == 1

    # Three writes: three versions, three level writes, three events; nothing of the others.
    assert counts(installation) == (before[0] + 3, before[1] + 3, before[2] + 3)
    assert _kv_version(installation, stack_target) == kv_before + 3
    assert get_secret(installation, LOCAL, stack_target, "K", reveal=True).raw_value == (
        SecretValue("v2")
    )
    assert verify_chain(installation).intact


def refusing_events_of(installation: Installation, key: str, how: str) -> None:
    """A trigger that makes the database refuse the audit event of a write of ``key``, once
    its version is in: ``ABORT`` undoes the statement, ``ROLLBACK`` the whole transaction (as
    SQLite does of its own accord for an interrupted statement or a failing disk)."""
    with installation.store.write() as conn:
        if installation.store.dialect == "postgresql":
            assert how == "ABORT"  # an error undoes the statement (and, savepoint aside, more)
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$"
                    f" BEGIN IF NEW.detail LIKE '%\"{key}\"%' THEN"
                    " RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_event AFTER INSERT ON audit_events"
                    " FOR EACH ROW EXECUTE FUNCTION refuse_event()"
                )
            )
            return
        conn.execute(
            text(
                "CREATE TRIGGER refuse_event AFTER INSERT ON audit_events"
                f" WHEN NEW.detail LIKE '%\"{key}\"%'"
                f" BEGIN SELECT RAISE({how}, 'refused by the test'); END"
            )
        )


def chain_tail(installation: Installation, after: int) -> list[tuple[int, str]]:
    with installation.store.read() as conn:
        return [
            (row.seq, row.action)
            for row in conn.execute(
                select(audit_events.c.seq, audit_events.c.action)
                .where(audit_events.c.seq > after)
                .order_by(audit_events.c.seq)
            )
        ]


def test_a_write_failing_after_its_version_leaves_nothing_and_the_next_chains_to_the_stored_head(
    installation: Installation, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, stack_target, "K", SecretValue("v1"))
    refusing_events_of(installation, "REFUSED", "ABORT")
    before = counts(installation)
    kv_before = _kv_version(installation, stack_target)
    with installation.store.read() as conn:
        seq_before = conn.execute(select(func.max(audit_events.c.seq))).scalar_one()
    writes = [
        put(installation, stack_target, "A", "a"),
        put(installation, stack_target, "REFUSED", "r"),  # version in, its event refused
        put(installation, stack_target, "K", "v2", expected_version=1),
        put(installation, stack_target, "Z", "z"),
    ]
    with ThreadPoolExecutor(len(writes) + 1) as pool:
        futures = behind_a_held_group(installation, pool, writes, stack_target)
        assert futures[0].result(30).version == 1
        with pytest.raises(AuditUnavailable, match="the change was refused"):
            futures[1].result(30)
        assert futures[2].result(30).version == 2
        assert futures[3].result(30).version == 1

    assert counts(installation) == (before[0] + 3, before[1] + 3, before[2] + 3)
    assert _kv_version(installation, stack_target) == kv_before + 3
    with pytest.raises(NotFound):
        get_secret(installation, LOCAL, stack_target, "REFUSED")
    # The events after the refused one follow the stored head, with no gap in the sequence.
    assert chain_tail(installation, seq_before) == [
        (seq_before + 1, "secret.set"),
        (seq_before + 2, "secret.set"),
        (seq_before + 3, "secret.set"),
    ]
    assert verify_chain(installation).intact


def test_a_data_key_made_by_a_write_that_fails_is_not_what_the_next_write_seals_with(
    installation: Installation, account_target: Target
) -> None:
    """A level's first write makes its data key; made by a write that then fails, the key is
    gone with it, and the write after it in the group makes and stores its own (the keys
    kept in memory are by wrapped form, never by level)."""
    fresh = Target(account_target.account, create_stack(installation, LOCAL, "acme", "api", "dev"))
    refusing_events_of(installation, "REFUSED", "ABORT")
    writes = [put(installation, fresh, "REFUSED", "r"), put(installation, fresh, "X", "x")]
    with ThreadPoolExecutor(len(writes) + 1) as pool:
        futures = behind_a_held_group(installation, pool, writes, fresh)
        with pytest.raises(AuditUnavailable):
            futures[0].result(30)
        assert futures[1].result(30).version == 1

    with installation.store.read() as conn:
        keys = conn.execute(
            select(data_keys.c.version).where(data_keys.c.stack_id == fresh.stack_id)
        ).all()
    assert [k.version for k in keys] == [1]
    assert get_secret(installation, LOCAL, fresh, "X", reveal=True).raw_value == SecretValue("x")
    assert verify_chain(installation).intact


@pytest.mark.databases("sqlite")  # RAISE(ROLLBACK): SQLite's undoing of a whole transaction
def test_a_write_that_rolls_back_the_whole_transaction_fails_every_member_in_its_own_words(
    installation: Installation, stack_target: Target
) -> None:
    refusing_events_of(installation, "POISON", "ROLLBACK")
    before = counts(installation)
    writes = [
        put(installation, stack_target, "A", "a"),
        put(installation, stack_target, "POISON", "p"),
        put(installation, stack_target, "Z", "z"),
    ]
    with ThreadPoolExecutor(len(writes) + 1) as pool:
        futures = behind_a_held_group(installation, pool, writes, stack_target)
        for future in futures:
            # What the transaction's end was told (as a write of its own would be), not the
            # savepoint SQLite had already undone with it.
            with pytest.raises(AuditUnavailable, match="the change was refused"):
                future.result(30)

    assert counts(installation) == before
    for key in ("A", "POISON", "Z"):
        with pytest.raises(NotFound):
            get_secret(installation, LOCAL, stack_target, key)
    assert verify_chain(installation).intact
    # The connection is whole again: the next group commits.
    assert set_secret(installation, LOCAL, stack_target, "A", SecretValue("a")).version == 1
    assert verify_chain(installation).intact


def _kv_version(installation: Installation, target: Target) -> int:
    with installation.store.read() as conn:
        return path_write_count(conn, target.account.id, target.stack_id)


def test_concurrent_writes_of_one_key_each_get_a_version_of_their_own(
    installation: Installation, stack_target: Target
) -> None:
    """Grouped, and handed over without a thread: every write its own version, none lost."""
    commits = commits_of(installation)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(put(installation, stack_target, "K", f"v{n}")) for n in range(8)]
        versions = sorted(f.result(30).version for f in futures)
    later = set_secret_later(installation, LOCAL, stack_target, "K", SecretValue("later"))
    assert later is not None  # handed over, on either database
    versions.append(later.result(30).version)

    assert versions == list(range(1, len(versions) + 1))
    assert len(commits) <= len(versions)
    assert verify_chain(installation).intact
