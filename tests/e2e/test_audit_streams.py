"""Audit streaming through a real `stacksafe serve` (issue 20): SIGKILLed mid-stream while
events keep coming, then restarted on the same database, the file sink (rotated as it grows)
holds every event of the log after de-duplication by sequence, none missing, every line signed
and linked (`audit verify --stream`'s check); /readyz gives the sink's lag."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest

from stacksafe.core.audit import append
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.streams.lines import installation_verifier
from stacksafe.core.streams.sinks import sink_statuses
from stacksafe.core.streams.verify import verify_stream
from stacksafe.settings import Settings
from stacksafe.store import audit as audit_queries
from tests.actors import LOCAL
from tests.cli.helpers import Cli
from tests.core.streams.helpers import until
from tests.e2e.conftest import TlsFiles, init_and_seed, start_serve, trusting

# The delivery loop and its lease are tested on both databases in tests/core/streams; here the
# server process's part (started with the app, surviving a SIGKILL) is what is tested.
pytestmark = pytest.mark.databases("sqlite")

LEASE_SECONDS = "3"  # how soon the restarted server takes over the dead one's sink


def _lines_written(directory: Path) -> int:
    return sum(len(f.read_bytes().splitlines()) for f in directory.iterdir())


class Appender:
    """Appends audit events from the test's process until stopped (another writer of the log,
    as every request is)."""

    def __init__(self, installation: Installation) -> None:
        self.installation, self.count = installation, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            append(self.installation, LOCAL, "test.load", detail={"n": self.count})
            self.count += 1

    def __enter__(self) -> Appender:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_a_server_killed_mid_stream_and_restarted_loses_no_event(
    database_url: str, tls: TlsFiles, tmp_path: Path
) -> None:
    local = Cli(tmp_path / "data", database_url)
    init_and_seed(local)
    out = tmp_path / "stream"
    out.mkdir()
    path = out / "audit.jsonl"
    local.in_process().ok(
        "audit", "sinks", "add", "siem", "--type", "file", "--path", str(path),
        "--max-bytes", "65536", "--keep", "100",
    )  # fmt: skip
    tls_args = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    env = {"STACKSAFE_AUDIT_SINK_LEASE_SECONDS": LEASE_SECONDS}
    installation = open_installation(
        Settings.load({"STACKSAFE_DATABASE_URL": database_url}, data_dir=local.data_dir)
    )
    try:
        first = start_serve(local, tls_args, tmp_path / "serve1", env=env, measured=False)
        try:
            first.wait_healthy(trusting(tls.ca))
            with Appender(installation) as load:
                until(lambda: _lines_written(out) >= 300, "300 lines streamed", seconds=30)
                first.process.send_signal(signal.SIGKILL)
                first.process.wait(10)
                at_kill = load.count
                until(
                    lambda: load.count >= at_kill + 200,
                    "200 more events after the kill",
                    seconds=30,
                )
        finally:
            first.stop()
        second = start_serve(local, tls_args, tmp_path / "serve2", env=env, measured=False)
        try:
            second.wait_healthy(trusting(tls.ca))
            until(
                lambda: sink_statuses(installation)[0].lag == 0, "the restart caught up", seconds=30
            )
            ready = httpx.get(f"{second.address}/readyz", verify=trusting(tls.ca), timeout=5)
            assert ready.status_code == 200
            assert ready.json()["audit_sinks"] == {"siem": {"lag": 0, "state": "delivering"}}
        finally:
            second.stop()
        with installation.store.read() as conn:
            head = audit_queries.read_head(conn)
        assert head is not None
        files = sorted(out.iterdir())
        assert len(files) > 2  # rotated along the way
        report = verify_stream(files, installation_verifier(installation))
        assert report.problems == []
        assert (report.first, report.newest, report.events) == (1, head[0], head[0])
        assert report.newest_hash == head[1].hex()
    finally:
        installation.close()
