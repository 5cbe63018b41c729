"""A rotation's lock order (core.rotation.engine): the level first, then the key's row, as
every write of the level takes them (store.level_writes), so that rotations and writes of the
same keys on two servers never deadlock on PostgreSQL, grouped writes included."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text

from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.rotation import rotate_secret, set_policy
from stacksafe.core.secrets import set_secret, set_secret_later
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from tests.actors import LOCAL
from tests.store.scratch import wait_until

ROUNDS = 40


def _deadlocks(installation: Installation) -> int:
    """The deadlocks PostgreSQL detected in the test's database, once every other session of
    it has ended: a session reports what it counted as it ends."""
    with installation.store.read() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return int(
            conn.execute(
                text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        )


def _other_sessions(installation: Installation) -> int:
    with installation.store.read() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        )


@pytest.mark.databases("postgresql")  # row locks: SQLite runs one writer at a time
def test_rotations_and_writes_of_the_same_keys_on_two_servers_never_deadlock(
    settings: Settings, installation: Installation, stack_target: Target
) -> None:
    for key in ("K", "L"):
        set_secret(installation, LOCAL, stack_target, key, SecretValue("v0"))
        set_policy(installation, LOCAL, stack_target, key, rotator="generate")
    servers = [open_installation(settings), open_installation(settings)]
    before = _deadlocks(installation)
    try:
        with ThreadPoolExecutor(16) as pool:
            futures: list[Future[Any]] = []
            for n in range(ROUNDS):
                server, key = servers[n % 2], "KL"[n % 4 // 2]
                futures += [
                    pool.submit(rotate_secret, server, LOCAL, stack_target, key),
                    pool.submit(set_secret, server, LOCAL, stack_target, key, SecretValue(f"v{n}")),
                    pool.submit(
                        set_secret, server, LOCAL, stack_target, f"O{n % 3}", SecretValue("o")
                    ),
                ]
                later = set_secret_later(server, LOCAL, stack_target, key, SecretValue(f"w{n}"))
                assert later is not None
                futures.append(later)
            outcomes = [f.result(120) for f in futures]
    finally:
        for server in servers:
            server.close()
    # The fixture's installation keeps no session open once its pool is emptied.
    installation.store.engine.dispose()
    wait_until(lambda: _other_sessions(installation) == 0, "the servers' sessions ended")

    assert [o.outcome for o in outcomes[::4]] == ["rotated"] * ROUNDS
    assert _deadlocks(installation) == before
    assert verify_chain(installation).intact
