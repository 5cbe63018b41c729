"""Revision 0019 (change-event webhooks): ``webhooks`` comes and goes with an upgrade and a
downgrade, the levels and the audit log untouched; its cursor queries (store.cursors, shared
with the audit sinks) hold the lease, and a webhook whose level is deleted is gone to them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, inspect, select

from stacksafe.core.installation import Installation, initialise
from stacksafe.core.tenancy import create_account, create_stack
from stacksafe.settings import Settings
from stacksafe.store import deletion as deletion_queries
from stacksafe.store import webhooks as queries
from stacksafe.store.migrate import HEAD_REVISION, current_revision
from stacksafe.store.schema import accounts, audit_events
from tests.actors import LOCAL
from tests.store.migrating import migrate


def _webhook(installation: Installation, stack: bool) -> queries.StoredWebhook:
    account = create_account(installation, LOCAL, f"acme-{int(stack)}")
    made = create_stack(installation, LOCAL, account.name, "web", "production") if stack else None
    with installation.store.write() as conn:
        return queries.insert_webhook(
            conn,
            account_id=account.id,
            stack_id=None if made is None else made.id,
            name="deploys",
            origin="https://hooks.example.test",
            sealed_url=b"sealed",
            signing_key="HOOK_KEY",
            cursor=3,
            created_by="local:test",
            now=installation.clock(),
        )


def test_0019_up_and_down_keeps_the_levels_and_the_audit_log(settings: Settings) -> None:
    installation, _ = initialise(settings)
    try:
        _webhook(installation, stack=True)
        with installation.store.read() as conn:
            events = conn.execute(select(func.count()).select_from(audit_events)).scalar()
        migrate(installation, "0018", down=True)
        with installation.store.read() as conn:
            assert "webhooks" not in inspect(conn).get_table_names()
            assert conn.execute(select(func.count()).select_from(audit_events)).scalar() == events
            assert conn.execute(select(func.count()).select_from(accounts)).scalar() == 1
        migrate(installation, "head", down=False)
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION == "0019"
            assert queries.list_webhooks(conn) == []
    finally:
        installation.close()


def test_the_lease_and_cursor_hold_and_a_deleted_level_is_gone(
    installation: Installation,
) -> None:
    on_stack = _webhook(installation, stack=True)
    on_account = _webhook(installation, stack=False)
    cursors = queries.CURSORS
    now = installation.clock()
    later = now + timedelta(seconds=30)
    with installation.store.write() as conn:
        assert cursors.take_lease(conn, on_stack.id, "a", now, later)
        assert not cursors.take_lease(conn, on_stack.id, "b", now, later)
        assert cursors.advance_cursor(conn, on_stack.id, "a", 3, 9, now, later, delivered=False)
        assert not cursors.advance_cursor(conn, on_stack.id, "a", 3, 10, now, later)
        state = cursors.state(conn, on_stack.id)
        found = queries.webhook_by_id(conn, on_stack.id)
    assert state is not None
    assert (state.cursor, state.paused) == (9, False)
    assert found is not None
    assert found.last_delivered_at is None  # passed over, not delivered
    with installation.store.write() as conn:
        assert on_stack.stack_id is not None
        deletion_queries.delete_stack(conn, on_stack.account_id, on_stack.stack_id, now)
        assert cursors.state(conn, on_stack.id) is None
        assert cursors.state(conn, on_account.id) is not None
        gone = queries.webhook_by_id(conn, on_stack.id)
        assert [w.name for w in queries.live_webhooks(conn)] == ["deploys"]
    assert gone is not None
    assert (gone.level_deleted, gone.stack_name) == (True, "web")
