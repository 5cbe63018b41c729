"""Revision 0018 (audit streaming): ``audit_sinks`` comes and goes with an upgrade and a
downgrade, the audit log itself untouched; the lease and the cursor's compare-and-set hold."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, inspect, select

from stacksafe.core.audit import append
from stacksafe.core.installation import Installation, initialise
from stacksafe.settings import Settings
from stacksafe.store import audit_sinks as queries
from stacksafe.store.migrate import HEAD_REVISION, current_revision
from stacksafe.store.schema import audit_events
from tests.actors import LOCAL
from tests.store.migrating import migrate


def _sink(installation: Installation) -> queries.StoredSink:
    with installation.store.write() as conn:
        return queries.insert_sink(
            conn,
            name="siem",
            type_="file",
            config='{"path": "/tmp/x"}',
            sealed=None,
            cursor=0,
            now=installation.clock(),
        )


def test_0018_up_and_down_keeps_the_audit_log(settings: Settings) -> None:
    installation, _ = initialise(settings)
    try:
        append(installation, LOCAL, "probe")
        _sink(installation)
        with installation.store.read() as conn:
            events = conn.execute(select(func.count()).select_from(audit_events)).scalar()
        migrate(installation, "0017", down=True)
        with installation.store.read() as conn:
            assert "audit_sinks" not in inspect(conn).get_table_names()
            assert conn.execute(select(func.count()).select_from(audit_events)).scalar() == events
        migrate(installation, "head", down=False)
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION == "0019"
            assert queries.list_sinks(conn) == []
    finally:
        installation.close()


def test_one_holder_at_a_time_and_the_cursor_moves_only_from_what_was_read(
    installation: Installation,
) -> None:
    sink = _sink(installation)
    now = installation.clock()
    later = now + timedelta(seconds=30)
    with installation.store.write() as conn:
        assert queries.take_lease(conn, sink.id, "a", now, later)
        assert not queries.take_lease(conn, sink.id, "b", now, later)  # a holds it
        assert queries.take_lease(conn, sink.id, "a", now, later)  # renewed
        assert queries.advance_cursor(conn, sink.id, "a", 0, 5, now, later)
        assert not queries.advance_cursor(conn, sink.id, "a", 0, 7, now, later)  # moved already
        # Expired and taken over during a slow delivery: b holds the lease, and a's batch,
        # delivered, still moves the cursor (from what it read) without renewing b's lease.
        expired = later + timedelta(seconds=1)
        b_until = expired + timedelta(seconds=30)
        assert queries.take_lease(conn, sink.id, "b", expired, b_until)
        assert queries.advance_cursor(conn, sink.id, "a", 5, 9, expired, later)
        # b delivered the same batch: its move from 5 is a no-op, nothing skipped or repeated.
        assert not queries.advance_cursor(conn, sink.id, "b", 5, 9, expired, b_until)
        found = queries.sink_by_id(conn, sink.id)
    assert found is not None
    assert (found.cursor, found.lease_holder) == (9, "b")
    assert found.lease_until is not None
    assert found.lease_until.replace(tzinfo=None) == b_until.replace(tzinfo=None)
