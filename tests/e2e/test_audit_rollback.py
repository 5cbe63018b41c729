"""Against a real ``stacksafe serve`` (SQLite and PostgreSQL): reveals over the API, the server
stopped, the log's tail cut with SQL and its head row put back to an earlier copy; ``stacksafe
audit verify`` on the server machine exits 6 naming the rollback (it said "intact" before the
checkpoint existed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
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


# SQLite only (tests/conftest.py, DATABASES): the remote CLI talking to a server; the server's
# comparison of a head with its checkpoint is core's, tested on both databases in tests/core.
@pytest.mark.databases("sqlite")
def test_verify_over_http_prints_the_head_and_checks_an_expected_one(
    served_fresh: Served, tmp_path: Path
) -> None:
    """Remote mode: the server's own checkpoint, plus --expect-head sent to the server."""
    served = served_fresh
    remote = served.remote(None, tmp_path / "remote").in_process()
    printed = remote.ok("audit", "verify").stdout
    match = re.search(r"^  head (\d+):([0-9a-f]{64})$", printed, re.M)
    assert match is not None, printed
    seq, digest = int(match.group(1)), match.group(2)
    with served.client() as client:
        client.set_secret("LATER", "later value", stack=served.stack_uids["web"])
    remote.ok("audit", "verify", "--expect-head", f"{seq}:{digest}")
    # A head the log never reached (an operator's copy from before a rollback, say).
    refused = remote.invoke("audit", "verify", "--expect-head", f"{seq + 1000}:{digest}")
    assert refused.exit_code == 6, refused
    assert "the log was rolled back: it ends at event " in refused.stderr
    assert f"--expect-head {seq + 1000} records event {seq + 1000}" in refused.stderr
    wrong = remote.invoke("audit", "verify", "--expect-head", f"{seq}:{'0' * 64}")
    assert wrong.exit_code == 6, wrong
    assert "the log was rolled back and rewritten" in wrong.stderr
    malformed = remote.invoke("audit", "verify", "--expect-head", "nope")
    assert malformed.exit_code == 2, malformed
    assert "--expect-head must be SEQ:HASH" in malformed.stderr
