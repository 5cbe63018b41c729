"""Revision 0015 (removed users): ``users.removed_at`` added and dropped in place, so the
principals revision's triggers on ``users`` (0008) keep firing either way, and a removed user's
mark survives nothing it should not: down, the user is back with no role and no valid token."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, update

from stacksafe.core.installation import Installation, initialise
from stacksafe.core.principals import authenticate, create_token, create_user, remove_user
from stacksafe.core.tenancy import create_account
from stacksafe.errors import Unauthenticated
from stacksafe.settings import Settings
from stacksafe.store import principals as queries
from stacksafe.store.migrate import HEAD_REVISION, current_revision
from stacksafe.store.schema import memberships, tokens, users
from tests.actors import LOCAL
from tests.store.migrating import migrate as _migrate

# What 0015 revises.
BEFORE = "0014"


def _revision_changes_on_a_users_update(installation: Installation) -> bool:
    with installation.store.read() as conn:
        before = queries.principals_revision_of(conn)
    with installation.store.write() as conn:
        conn.execute(update(users).where(users.c.email == "dev@acme.test").values(is_owner=False))
    with installation.store.read() as conn:
        return queries.principals_revision_of(conn) != before


def test_0015_adds_and_drops_removed_at_keeping_the_triggers(settings: Settings) -> None:
    installation, _ = initialise(settings)
    try:
        create_account(installation, LOCAL, "acme")
        create_user(installation, LOCAL, "dev@acme.test", "acme", "developer")
        token = create_token(installation, LOCAL, "dev@acme.test", scopes=["public"]).token
        remove_user(installation, LOCAL, "dev@acme.test")
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION
            assert conn.execute(select(users.c.removed_at)).all()[-1][0] is not None
        assert _revision_changes_on_a_users_update(installation)

        _migrate(installation, BEFORE, down=True)
        with installation.store.read() as conn:
            assert current_revision(conn) == BEFORE
            assert "removed_at" not in {c["name"] for c in inspect(conn).get_columns("users")}
        assert _revision_changes_on_a_users_update(installation)
        # Down, the user is a user again, but the removal's revocation and roles stay taken
        # (read with plain SQL: the code at head reads the column that is gone).
        with installation.store.read() as conn:
            assert conn.execute(select(tokens.c.revoked_at)).scalar_one() is not None
            assert conn.execute(select(memberships)).all() == []

        _migrate(installation, "head", down=False)
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION
            assert conn.execute(select(users.c.removed_at)).all()[-1][0] is None
        assert _revision_changes_on_a_users_update(installation)
        with pytest.raises(Unauthenticated, match="revoked"):
            authenticate(installation, token)
    finally:
        installation.close()
