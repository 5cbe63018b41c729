"""Against a real ``stacksafe serve`` (SQLite and PostgreSQL): reveals over the API, the server
stopped, the log's tail cut with SQL and its head row put back to an earlier copy; ``stacksafe
audit verify`` on the server machine exits 6 naming the rollback (it said "intact" before the
checkpoint existed)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import create_engine, delete, select, update

from stacksafe.store.schema import audit_events, audit_head
from tests.e2e.conftest import Served


def _head(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(audit_head)).one()._mapping)
    finally:
        engine.dispose()


def _cut_to(url: str, head: dict[str, Any]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(audit_events).where(audit_events.c.seq > head["seq"]))
            conn.execute(
                update(audit_head).values(seq=head["seq"], hash=head["hash"], mac=head["mac"])
            )
    finally:
        engine.dispose()


def test_a_tail_cut_after_the_server_stopped_is_named_by_verify(served_fresh: Served) -> None:
    served = served_fresh
    web = served.stack_uids["web"]
    with served.client() as client:
        client.set_secret("API_KEY", "first value", stack=web)
        earlier = _head(served.database_url)
        for _ in range(5):
            assert client.reveal(stack=web)["API_KEY"].reveal() == "first value"
    served.process.stop()  # a clean stop: the server anchors its last events

    intact = served.local.in_process().ok("audit", "verify").stdout
    match = re.search(r"Audit log intact: (\d+) events\n  head (\d+):", intact)
    assert match is not None, intact
    last = int(match.group(2))
    assert last >= earlier["seq"] + 5

    _cut_to(served.database_url, earlier)
    refused = served.local.run("audit", "verify")
    assert refused.returncode == 6, refused
    assert refused.stderr.startswith(
        f"Error: audit log broken at event {earlier['seq'] + 1}: the log was rolled back: "
        f"it ends at event {earlier['seq']}, but the checkpoint "
    ), refused.stderr
    assert f"records event {last}" in refused.stderr
    assert "first value" not in refused.stderr + refused.stdout
