"""What one plain write of a secret costs the database, and a group of them, counted
(tests/round_trips.py).

On PostgreSQL each round trip is a wait of the server process and of a backend, and the write
holds its level's row lock through most of them: the CPU a write costs grew with their number
(bench/README.md, "PostgreSQL's write"). The numbers pinned here are what the write path makes
today; a change that adds one fails here, and says which messages it sent.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import get_secret, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.core.test_secrets_grouped import behind_a_held_group, put
from tests.round_trips import counted

# The pool's pre-ping, BEGIN, the write's statements in their batches, COMMIT.
PG_ROUND_TRIPS = 5
SQLITE_STATEMENTS = 25  # each statement of a trigger counted too
# A group of four writes of one level (store.write_group): the pre-ping and COMMIT once, then
# each member's three batches, its SAVEPOINT (after the RELEASE of the one before) in its first.
PG_GROUP_OF_4_ROUND_TRIPS = 14


def test_a_plain_write_of_an_existing_key_makes_a_pinned_number_of_round_trips(
    installation: Installation, stack_target: Target, tmp_path: Path
) -> None:
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("first"))
    with counted(installation.store.engine, tmp_path) as seen:
        # The first opens the pool's connection; the second is a write as a server makes it.
        set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("second"))
        opened = len(seen.uses)
        set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("third"))
    assert _revealed(installation, stack_target) == "third"
    if installation.store.dialect == "sqlite":
        statements = seen.uses[opened:]
        assert len(statements) == SQLITE_STATEMENTS, "\n".join(s[:90] for s in statements)
        return
    sent = seen.messages(-1)
    assert seen.round_trips()[-1] == PG_ROUND_TRIPS, "\n".join(sent)
    # Its statements were prepared by the write before (store.pipeline): parsed again is BEGIN.
    assert [m for m in sent if m.startswith("Parse")] == ['Parse\t "" "BEGIN" 0'], sent


def _revealed(installation: Installation, target: Target) -> str | None:
    found = get_secret(installation, LOCAL, target, "API_KEY", reveal=True).raw_value
    return None if found is None else found.reveal()


@pytest.mark.databases("postgresql")  # SQLite has no round trips
def test_a_group_of_writes_of_one_level_makes_fewer_round_trips_per_write_than_one_write(
    installation: Installation, stack_target: Target, tmp_path: Path
) -> None:
    keys = ["A", "B", "C", "D"]
    for key in keys:
        set_secret(installation, LOCAL, stack_target, key, SecretValue("first"))
    with counted(installation.store.engine, tmp_path) as seen, ThreadPoolExecutor(5) as pool:
        # The first group opens the connections; the second is a group as a server makes it.
        for value in ("second", "third"):
            writes = [put(installation, stack_target, key, value) for key in keys]
            for future in behind_a_held_group(installation, pool, writes, stack_target):
                assert future.result(30).version == (2 if value == "second" else 3)
    groups = [
        n for n, trace in enumerate(seen.uses) if trace.count('"SAVEPOINT stacksafe_member"') == 4
    ]
    assert len(groups) == 2
    sent = seen.messages(groups[-1])
    assert seen.round_trips()[groups[-1]] == PG_GROUP_OF_4_ROUND_TRIPS, "\n".join(sent)
    assert PG_GROUP_OF_4_ROUND_TRIPS / len(keys) < PG_ROUND_TRIPS  # fewer per write
