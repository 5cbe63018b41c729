"""Revision 0016 (people's single sign-on): its tables come and go with an upgrade and a
downgrade, the configuration's group roles go with their account (ON DELETE CASCADE), and
nothing else is touched (users, their roles and sessions stay)."""

from __future__ import annotations

from sqlalchemy import delete, inspect, select

from stacksafe.core.installation import Installation, initialise
from stacksafe.core.tenancy import create_account
from stacksafe.settings import Settings
from stacksafe.store.identity_tables import oidc_group_roles, oidc_provider
from stacksafe.store.migrate import HEAD_REVISION, current_revision
from stacksafe.store.oidc import StoredProvider, group_roles, put_provider
from stacksafe.store.principals import list_users
from stacksafe.store.schema import accounts, memberships
from tests.actors import LOCAL
from tests.api.helpers import user_with_token
from tests.store.migrating import migrate

TABLES = {"oidc_provider", "oidc_group_roles", "oidc_flows"}


def _provider(installation: Installation) -> StoredProvider:
    now = installation.clock()
    return StoredProvider(
        issuer="https://idp.example.test",
        client_id="web",
        client_secret_sealed=b"\x01sealed",
        authorization_endpoint="https://idp.example.test/authorize",
        token_endpoint="https://idp.example.test/token",
        token_auth_method="client_secret_basic",
        jwks_uri="https://idp.example.test/keys",
        jwks='{"keys": []}',
        scopes=("openid", "email"),
        groups_claim="groups",
        allowed_domains=("example.test",),
        password_sign_in=False,
        created_at=now,
        updated_at=now,
    )


def test_0016_up_and_down_keeps_users_and_roles(settings: Settings) -> None:
    installation, _ = initialise(settings)
    try:
        account = create_account(installation, LOCAL, "acme")
        user_with_token(installation, "dev@acme.test", "acme", "developer")
        migrate(installation, "0016", down=False)  # init left it at the head: a no-op
        with installation.store.write() as conn:
            put_provider(conn, _provider(installation), [("devs", account.id, "developer")])
        migrate(installation, "0015", down=True)
        with installation.store.read() as conn:
            assert not TABLES & set(inspect(conn).get_table_names())
            assert [u.email for u in list_users(conn)] == ["dev@acme.test"]
            assert conn.execute(select(memberships.c.role)).scalars().all() == ["developer"]
        migrate(installation, "head", down=False)
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION
            assert set(inspect(conn).get_table_names()) >= TABLES
            assert conn.execute(select(oidc_provider)).first() is None
    finally:
        installation.close()


def test_group_roles_go_with_their_account(installation: Installation) -> None:
    acme = create_account(installation, LOCAL, "acme")
    beta = create_account(installation, LOCAL, "beta")
    with installation.store.write() as conn:
        put_provider(
            conn,
            _provider(installation),
            [("devs", acme.id, "developer"), ("devs", beta.id, "viewer")],
        )
        assert [(r.group, r.account_name) for r in group_roles(conn)] == [
            ("devs", "acme"),
            ("devs", "beta"),
        ]
        conn.execute(delete(accounts).where(accounts.c.id == beta.id))
        assert [r.account_name for r in group_roles(conn)] == ["acme"]
        assert len(conn.execute(select(oidc_group_roles)).all()) == 1
