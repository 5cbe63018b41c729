"""api.cursor_streams (through api.audit_streams): stalled loops do not hold a shutdown one
after another, nor a sync that ends a removed row's loop; a row this server cannot open says so
in its status."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest
from sqlalchemy import update

from stacksafe.api import audit_streams, cursor_streams
from stacksafe.api.audit_streams import AuditStreams
from stacksafe.core.installation import Installation
from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.streams import types
from stacksafe.core.streams.config import SinkConfig, SinkOptions
from stacksafe.core.streams.delivery import Tuning
from stacksafe.core.streams.sink import Sink
from stacksafe.core.streams.sinks import add_sink, remove_sink, sink_statuses
from stacksafe.store.stream_tables import audit_sinks
from tests.actors import LOCAL
from tests.core.streams.helpers import appended, until

FAST = Tuning(idle_seconds=0.01)


class _Stalled:
    """A receiver within its own timeouts that never finishes (e.g. dripping its answer)."""

    def __init__(self, entered: list[str], release: threading.Event, name: str) -> None:
        self.entered, self.release, self.name = entered, release, name

    def deliver(self, lines: Sequence[bytes]) -> None:
        self.entered.append(self.name)
        self.release.wait(60)

    def close(self) -> None:
        pass


@pytest.fixture
def stalled(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """File sinks become stalled sinks; yields the names of those inside ``deliver``."""
    entered: list[str] = []
    release = threading.Event()

    def factory(config: SinkConfig, _outbound: OutboundPolicy) -> Sink:
        return _Stalled(entered, release, config.name)

    monkeypatch.setitem(types.FACTORIES, "file", factory)
    monkeypatch.setattr(audit_streams, "FACTORIES", types.FACTORIES)
    yield entered
    release.set()


@pytest.mark.databases("sqlite")
def test_stalled_loops_are_waited_for_together_at_shutdown(
    installation: Installation, tmp_path: Path, stalled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cursor_streams, "STOP_SECONDS", 0.5)
    appended(installation, 3)
    for n in range(3):
        add_sink(installation, LOCAL, f"s{n}", "file", SinkOptions(path=tmp_path / f"f{n}"))
    streams = AuditStreams(installation, refresh=0.05, tuning=FAST)
    streams.start()
    until(lambda: len(stalled) == 3, "all three stalled")
    began = time.monotonic()
    streams.stop()
    took = time.monotonic() - began
    assert 0.4 < took < 1.2  # one shared deadline; one after another took 3 x 0.5 s
    assert streams.loops == {}


@pytest.mark.databases("sqlite")
def test_a_removed_sinks_stalled_loop_does_not_hold_the_sync(
    installation: Installation, tmp_path: Path, stalled: list[str]
) -> None:
    appended(installation, 3)
    add_sink(installation, LOCAL, "stuck", "file", SinkOptions(path=tmp_path / "stuck"))
    streams = AuditStreams(installation, refresh=60, tuning=FAST)
    streams.sync()
    until(lambda: stalled == ["stuck"], "stalled")
    remove_sink(installation, LOCAL, "stuck")
    add_sink(installation, LOCAL, "next", "file", SinkOptions(path=tmp_path / "next"))
    began = time.monotonic()
    streams.sync()
    assert time.monotonic() - began < 1.0  # it joined the stalled loop for 5 s before
    assert [loop.name for loop in streams.loops.values()] == ["next"]
    until(lambda: "next" in stalled, "the other sink delivered")
    streams.stop()


def test_a_stored_sink_this_server_cannot_open_is_failing_not_delivering(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 3)
    stored, _ = add_sink(installation, LOCAL, "bad", "syslog", SinkOptions(address="h:514"))
    # Stored by an older version that let it through: the syslog sink refuses this host.
    options = {"host": "a/b", "port": 514, "tls": False, "ca": None, "udp": False}
    with installation.store.write() as conn:
        conn.execute(
            update(audit_sinks)
            .where(audit_sinks.c.id == stored.id)
            .values(config=orjson.dumps(options).decode())
        )
    streams = AuditStreams(installation, refresh=60, tuning=FAST)
    streams.sync()
    assert streams.loops == {}
    (status,) = sink_statuses(installation)
    assert status.state == "failing"
    assert status.last_error is not None
    assert "this server cannot open it: the syslog sink needs a host name" in status.last_error
    streams.stop()
