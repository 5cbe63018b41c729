"""store.level_size: a level's live secret rows, counted up to a bound (SQLite and PostgreSQL)."""

from __future__ import annotations

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import set_secret, unset_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from stacksafe.store.level_size import level_rows
from tests.actors import LOCAL


def _put(installation: Installation, target: Target, *keys: str) -> None:
    for key in keys:
        set_secret(installation, LOCAL, target, key, SecretValue("v"))


def test_a_level_counts_its_live_rows_and_a_stack_its_accounts_too(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    _put(installation, account_target, "A", "B", "GONE")
    _put(installation, stack_target, "A", "C")
    unset_secret(installation, LOCAL, account_target, "GONE")
    account, stack = account_target.account.id, stack_target.stack_id
    with installation.store.read() as conn:
        assert level_rows(conn, account, None, 10) == 2
        assert level_rows(conn, account, stack, 10) == 4  # rows, not the effective set's keys


def test_counting_stops_past_the_bound(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    _put(installation, account_target, "A", "B", "C")
    _put(installation, stack_target, "D", "E", "F")
    account, stack = account_target.account.id, stack_target.stack_id
    with installation.store.read() as conn:
        assert level_rows(conn, account, None, 1) == 2  # most + 1: "more than most"
        assert level_rows(conn, account, stack, 1) == 4  # most + 1 per level
        assert level_rows(conn, account, stack, 6) == 6
