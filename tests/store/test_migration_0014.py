"""Revision 0014 (workload logins): its tables and ``tokens.actor`` come and go with an upgrade
and a downgrade, and adding the column keeps 0008's triggers on ``tokens`` (on SQLite a batch
alter would copy the table without them): a token change still changes the principals
revision, which is how every server drops a revoked token at once."""

from __future__ import annotations

from sqlalchemy import inspect

from stacksafe.core.installation import Installation, initialise
from stacksafe.core.principals import create_token, revoke_token
from stacksafe.core.tenancy import create_account
from stacksafe.settings import Settings
from stacksafe.store import principals as queries
from stacksafe.store.migrate import HEAD_REVISION, current_revision
from tests.actors import LOCAL
from tests.api.helpers import user_with_token
from tests.store.migrating import migrate


def _revision(installation: Installation) -> str:
    with installation.store.read() as conn:
        return queries.principals_revision_of(conn)


def test_0014_up_and_down_and_the_token_triggers_hold(settings: Settings) -> None:
    installation, _ = initialise(settings)
    try:
        create_account(installation, LOCAL, "acme")
        user_with_token(installation, "dev@acme.test", "acme", "developer")
        migrate(installation, "0013", down=True)
        with installation.store.read() as conn:
            assert current_revision(conn) == "0013"
            assert not inspect(conn).has_table("jwt_roles")
            assert "actor" not in {c["name"] for c in inspect(conn).get_columns("tokens")}
        migrate(installation, "head", down=False)
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION
            assert {"jwt_issuers", "jwt_roles", "jwt_seen"} <= set(inspect(conn).get_table_names())
        before = _revision(installation)
        made = create_token(installation, LOCAL, "dev@acme.test", scopes=["public"])
        after_create = _revision(installation)
        assert after_create != before
        revoke_token(installation, LOCAL, made.uid)
        assert _revision(installation) != after_create
    finally:
        installation.close()
