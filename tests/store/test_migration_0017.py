"""Revision 0017 (deleted levels keep their rows): the columns come and go in place, so the
principals revision's triggers keep firing (and move when a stack is marked deleted); down,
the marked rows are deleted as core.deletion did before, and the live ones are untouched."""

from __future__ import annotations

from sqlalchemy import inspect, select, update

from stacksafe.core.deletion import delete_stack
from stacksafe.core.installation import Installation, initialise
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store import principals as queries
from stacksafe.store.migrate import HEAD_REVISION, current_revision
from stacksafe.store.schema import secrets, stacks
from tests.actors import LOCAL
from tests.store.migrating import migrate

BEFORE = "0016"


def _revision_moves(installation: Installation, **values: object) -> bool:
    with installation.store.read() as conn:
        before = queries.principals_revision_of(conn)
    with installation.store.write() as conn:
        conn.execute(update(stacks).where(stacks.c.name == "live").values(**values))
    with installation.store.read() as conn:
        return queries.principals_revision_of(conn) != before


def test_0017_up_and_down(settings: Settings) -> None:
    installation, _ = initialise(settings)
    try:
        acme = create_account(installation, LOCAL, "acme")
        live = create_stack(installation, LOCAL, "acme", "live", "production")
        gone = create_stack(installation, LOCAL, "acme", "gone", "production")
        set_secret(installation, LOCAL, Target(acme, live), "LIVE", SecretValue("live value"))
        set_secret(installation, LOCAL, Target(acme, gone), "GONE", SecretValue("gone value"))
        delete_stack(installation, LOCAL, gone.uid, force=True)
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION
            assert conn.execute(select(stacks.c.deleted_name).where(stacks.c.id == gone.id)).all()
        assert _revision_moves(installation, deleted_at=installation.clock())
        assert _revision_moves(installation, deleted_at=None)
        assert not _revision_moves(installation, secrets_revision="x")  # 0009's rule holds

        migrate(installation, BEFORE, down=True)
        with installation.store.read() as conn:
            assert current_revision(conn) == BEFORE
            assert "deleted_at" not in {c["name"] for c in inspect(conn).get_columns("stacks")}
            assert "deleted_at" not in {c["name"] for c in inspect(conn).get_columns("accounts")}
            assert conn.execute(select(stacks.c.name)).scalars().all() == ["live"]
            assert conn.execute(select(secrets.c.key)).scalars().all() == ["LIVE"]
        assert _revision_moves(installation, account_id=acme.id)  # 0009's trigger still there

        migrate(installation, "head", down=False)
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION
        assert _revision_moves(installation, deleted_at=installation.clock())
    finally:
        installation.close()
