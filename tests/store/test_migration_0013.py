"""Revision 0013 (KV path versions): history written before it is matched to level writes, so
every path has the versions it would have had, and each of them reads back the same data."""

from __future__ import annotations

from sqlalchemy import inspect

from stacksafe.core.installation import Installation, initialise
from stacksafe.core.kv.versions import data_as_of, path_history
from stacksafe.core.secrets import set_secret, unset_secret
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.migrate import current_revision
from tests.actors import LOCAL
from tests.store.migrating import migrate


def _paths(installation: Installation, targets: list[Target]) -> list[list[dict[str, str]]]:
    """Every version's data of every path, oldest first."""
    found = []
    with installation.store.read() as conn:
        for target in targets:
            history = path_history(conn, target)
            found.append(
                [data_as_of(conn, installation, target, v.write_id) for v in history.versions]
            )
    return found


def test_history_before_0013_gets_the_path_versions_it_would_have_had(settings: Settings) -> None:
    installation, _ = initialise(settings)
    try:
        account = Target(create_account(installation, LOCAL, "acme"))
        web = Target(account.account, create_stack(installation, LOCAL, "acme", "web", "prod"))
        set_secret(installation, LOCAL, account, "A", SecretValue("a1"))
        set_secret(installation, LOCAL, web, "B", SecretValue("b1"))
        set_secret(installation, LOCAL, account, "A", SecretValue("a2"))
        dev = Target(account.account, create_stack(installation, LOCAL, "acme", "dev", "dev"))
        unset_secret(installation, LOCAL, web, "B")
        targets = [account, web, dev]
        before = _paths(installation, targets)
        assert before == [
            [{"A": "a1"}, {"A": "a2"}],
            [{"A": "a1"}, {"A": "a1", "B": "b1"}, {"A": "a2", "B": "b1"}, {"A": "a2"}],
            [{"A": "a2"}],  # created inheriting A: its first version
        ]

        migrate(installation, "0012", down=True)
        with installation.store.read() as conn:
            assert current_revision(conn) == "0012"
            assert not inspect(conn).has_table("level_writes")
        migrate(installation, "head", down=False)

        assert _paths(installation, targets) == before
        # New writes number on from the matched history.
        set_secret(installation, LOCAL, web, "C", SecretValue("c"))
        with installation.store.read() as conn:
            assert path_history(conn, web).current == 5
    finally:
        installation.close()
