"""A worker busy past uvicorn's default health check (5 s) is not killed and replaced: under a
load that keeps a worker from answering the supervisor for a few seconds, killing it would drop
every request in flight on it. Only a worker silent for ``WORKER_HEALTHCHECK_SECONDS`` is."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from stacksafe.cli.serve_cmd import WORKER_HEALTHCHECK_SECONDS
from tests.cli.helpers import Cli
from tests.e2e.conftest import START_TIMEOUT, Launcher, init_and_seed
from tests.e2e.test_serve import _alive, _children

# What the supervisor does is the same on either database.
pytestmark = pytest.mark.databases("sqlite")

UVICORN_DEFAULT_SECONDS = 5.0


def test_a_worker_silent_longer_than_uvicorns_default_is_kept(
    database_url: str, launch: Launcher, tmp_path: Path
) -> None:
    assert WORKER_HEALTHCHECK_SECONDS > UVICORN_DEFAULT_SECONDS + 2
    cli = Cli(tmp_path / "data", database_url)
    init_and_seed(cli)
    server = launch(cli, ["--workers", "2"], scheme="http", measured=False)
    server.wait_healthy(False)
    deadline = time.monotonic() + START_TIMEOUT
    while len(_workers(server.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _workers(server.process.pid)
    assert len(workers) == 2
    stopped = min(workers)
    os.kill(stopped, signal.SIGSTOP)  # as a worker the machine gives no CPU for a while
    try:
        # The supervisor pings every worker about twice a second; with uvicorn's default it
        # kills one that has not answered in 5 s.
        time.sleep(UVICORN_DEFAULT_SECONDS + 2)
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed: the assertions below say so
            os.kill(stopped, signal.SIGCONT)
    server.wait_healthy(False)
    assert _alive(stopped)
    assert _workers(server.process.pid) == workers
    assert "died" not in server.stderr()


def _workers(pid: int) -> set[int]:
    """The server's worker processes (multiprocessing's spawned children; not its resource
    tracker)."""
    return {
        child
        for child in _children(pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    }
