"""/readyz and the audit sinks: every sink's lag in the body; 503 only when
STACKSAFE_AUDIT_SINK_MAX_LAG is set and a (not paused) sink lags more, so a receiver down does
not take every server out of rotation by default. And api.audit_streams: a serving app's thread
starts a loop for a sink added while it runs, and the loop ends when the sink is removed."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from stacksafe.api import create_app
from stacksafe.api.audit_streams import AuditStreams
from stacksafe.core.installation import Installation
from stacksafe.core.streams.config import SinkOptions
from stacksafe.core.streams.delivery import Tuning
from stacksafe.core.streams.sinks import add_sink, remove_sink, set_paused, sink_statuses
from stacksafe.settings import Settings
from tests.actors import LOCAL
from tests.core.streams.helpers import until


def test_lag_is_shown_and_fails_readiness_only_above_the_set_maximum(
    installation: Installation, tmp_path: Path
) -> None:
    add_sink(installation, LOCAL, "siem", "file", SinkOptions(path=tmp_path / "a.jsonl"))
    client = TestClient(create_app(installation))
    ready = client.get("/readyz")
    lag = ready.json()["audit_sinks"]["siem"]["lag"]
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    assert lag > 0  # no server delivers it here
    assert "audit_sinks" not in ready.json()["checks"]  # no maximum set: never a reason

    installation.audit_sink_max_lag = lag - 1
    late = client.get("/readyz")
    assert late.status_code == 503
    assert late.json()["checks"]["audit_sinks"] == f"lagging more than {lag - 1} events: siem"

    set_paused(installation, LOCAL, "siem", True)  # the owner paused it: not a failure
    paused = client.get("/readyz")
    assert paused.status_code == 200
    assert paused.json()["checks"]["audit_sinks"] == "ok"
    assert paused.json()["audit_sinks"]["siem"]["state"] == "paused"


def test_the_maximum_is_read_from_the_environment(tmp_path: Path) -> None:
    assert Settings.load({}, data_dir=tmp_path).audit_sink_max_lag is None
    found = Settings.load({"STACKSAFE_AUDIT_SINK_MAX_LAG": "500"}, data_dir=tmp_path)
    assert found.audit_sink_max_lag == 500


def test_sinks_added_and_removed_while_serving_are_followed(
    installation: Installation, tmp_path: Path
) -> None:
    streams = AuditStreams(installation, refresh=0.02, tuning=Tuning(idle_seconds=0.01))
    streams.start()
    try:
        path = tmp_path / "b.jsonl"
        add_sink(installation, LOCAL, "late", "file", SinkOptions(path=path))
        until(lambda: sink_statuses(installation)[0].lag == 0, "delivered")
        assert path.exists()
        [loop] = streams.loops.values()
        remove_sink(installation, LOCAL, "late")
        until(lambda: not loop.alive and not streams.loops, "its loop ended")
    finally:
        streams.stop()
