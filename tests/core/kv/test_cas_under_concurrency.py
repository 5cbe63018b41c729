"""cas on a stack path while its account is written concurrently (vault-kv.md section 6): a
read-modify-write client echoes the inherited keys it read; if an account write commits between
its read and its write, the cas must fail, or the stale echo would become an override that pins
the old value (future rotations would stop reaching the stack). On SQLite and PostgreSQL, with
the write's check, diff and commit under the level's locks (store.level_writes.lock_level)."""

from __future__ import annotations

import threading

from stacksafe.core.installation import Installation
from stacksafe.core.kv.reads import read_latest, revealed_data
from stacksafe.core.kv.writes import CasMismatch, write_path
from stacksafe.core.secrets import list_secrets, set_secret
from stacksafe.core.tenancy import Target, visible_target
from stacksafe.model import SecretValue
from tests.actors import LOCAL

ROUNDS = 15


def test_a_stale_echo_never_pins_an_inherited_value(
    installation: Installation, stack_target: Target
) -> None:
    account = Target(stack_target.account)
    set_secret(installation, LOCAL, account, "SHARED", SecretValue("v0"))
    assert stack_target.stack is not None
    stack_uid = stack_target.stack.uid

    failures: list[BaseException] = []
    written: list[int] = []

    def rotate() -> None:
        try:
            for i in range(ROUNDS):
                set_secret(installation, LOCAL, account, "SHARED", SecretValue(f"v{i + 1}"))
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    def attempt(n: int, i: int) -> None:
        """One read-modify-write, as hvac's patch does: read, change one key, write with cas."""
        target = visible_target(installation, LOCAL, stack_uid=stack_uid, for_reading=True)
        latest = read_latest(installation, LOCAL, target)
        assert latest.revealed is not None
        data = revealed_data(latest.facts, latest.revealed).data
        assert latest.facts.version is not None
        try:
            write_path(
                installation,
                LOCAL,
                stack_target,
                {**data, f"OWN{n}": str(i)},
                cas=latest.facts.version.number,
            )
            written.append(n)
        except CasMismatch:
            pass  # someone (the rotation) wrote in between: the cas refused the stale echo

    def read_modify_write(n: int) -> None:
        try:
            for i in range(ROUNDS):
                attempt(n, i)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=rotate)]
    threads += [threading.Thread(target=read_modify_write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    # How many went through while the account rotated depends on the machine's load (none, on
    # a busy one); alone, one must.
    attempt(9, 0)
    assert written[-1] == 9
    own = {s.key for s in list_secrets(installation, LOCAL, stack_target) if not s.inherited}
    assert "SHARED" not in own
    final = {s.key: s for s in list_secrets(installation, LOCAL, stack_target, reveal=True)}
    assert final["SHARED"].raw_value is not None
    assert final["SHARED"].raw_value.reveal() == f"v{ROUNDS}"
