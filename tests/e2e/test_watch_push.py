"""`run --watch` and `materialize --watch` learn of a change by the server's push, against a real
`stacksafe serve` over TLS; and a server with streams open still stops at once.

The watchers poll every 60 s here: a restart within 2 s of `secrets set` can only be the push
(`GET /stacks/{uid}/changes`). One server on SQLite for the module: the pushing is tested on
both databases in-process (tests/api/test_changes_stream.py); what is tested here is the
command and the real server, signals included.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    InProcessRemote,
    RemoteCli,
    Served,
    TlsFiles,
    serve_seeded,
    start_serve,
    trusting,
)

PYTHON = sys.executable
WEB = ("--stack", "web")
PUSHED_WITHIN = 2.0  # seconds from `secrets set` returning to the watcher acting on it
STARTED_WITHIN = 20.0
STOPPED_WITHIN = 6.0  # `serve`'s shutdown timeout is 8 s
# Appends "start <TOKEN>" when it starts and "stop <TOKEN>" on SIGTERM, then exits 0.
SERVICE = """
import os, pathlib, signal, sys
log = pathlib.Path(sys.argv[1])
def note(text):
    with log.open("a") as f:
        f.write(text + "\\n")
def on_term(signum, frame):
    note("stop " + os.environ["TOKEN"])
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
note("start " + os.environ["TOKEN"])
while True:
    signal.pause()
"""


@pytest.fixture(scope="module")
def served(tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("watch-push")
    yield from serve_seeded(base, f"sqlite:///{base / 'stacksafe.db'}", tls)


@pytest.fixture
def remote(served: Served, tmp_path: Path) -> RemoteCli:
    empty = tmp_path / "empty-data-dir"
    empty.mkdir()
    return served.remote(None, empty)


@pytest.fixture
def fast(remote: RemoteCli) -> InProcessRemote:
    return remote.in_process()


def _until(
    condition: Callable[[], bool], proc: subprocess.Popen[str], what: str, within: float
) -> float:
    """Poll ``condition`` for at most ``within`` seconds; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < within:  # a bounded wait for a condition
        if condition():
            return time.monotonic() - start
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"not within {within} s: {what}")


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_run_watch_restarts_the_command_within_two_seconds_of_a_set(
    remote: RemoteCli, fast: InProcessRemote, tmp_path: Path
) -> None:
    fast.ok("secrets", "set", "TOKEN=v1", *WEB)
    log = tmp_path / "service.log"
    argv = remote.argv(
        "run", *WEB, "--watch", "--interval", "60", "--", PYTHON, "-c", SERVICE, str(log)
    )
    proc = subprocess.Popen(argv, env=remote.env(), stderr=subprocess.PIPE, text=True)
    try:
        _until(lambda: _lines(log) == ["start v1"], proc, "the command started", STARTED_WITHIN)
        fast.ok("secrets", "set", "TOKEN=v2", *WEB)
        _until(
            lambda: _lines(log) == ["start v1", "stop v1", "start v2"],
            proc,
            f"the command restarted on the new value: {_lines(log)}",
            PUSHED_WITHIN,
        )
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert "v1" not in stderr
    assert "v2" not in stderr
    assert "polling" not in stderr, stderr


def test_materialize_watch_rewrites_within_two_seconds_of_an_account_set(
    remote: RemoteCli, fast: InProcessRemote, tmp_path: Path
) -> None:
    fast.ok("secrets", "set", "PUSHED_SHARED=account-1", "--account", "acme")
    target = tmp_path / "secrets"
    proc = subprocess.Popen(
        remote.argv("materialize", *WEB, "--dir", str(target), "--watch", "--interval", "60"),
        env=remote.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    shared = target / "PUSHED_SHARED"
    try:
        _until(shared.exists, proc, "the files were written", STARTED_WITHIN)
        # An inherited key set at the account: the stack's stream tells of it too.
        fast.ok("secrets", "set", "PUSHED_SHARED=account-2", "--account", "acme")
        _until(
            lambda: shared.read_text() == "account-2", proc, "the file was rewritten", PUSHED_WITHIN
        )
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert "account-" not in stderr


def test_a_server_stops_at_once_with_streams_open(served: Served, tls: TlsFiles) -> None:
    """SIGTERM ends the open streams (an ``end`` event) before uvicorn waits for responses in
    flight: the stop takes far less than `serve`'s 8 s shutdown timeout."""
    server = start_serve(
        served.local,
        ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)],
        served.data_dir.parent / "second-serve",
    )
    try:
        server.wait_healthy(trusting(tls.ca))
        url = f"{server.address}/api/3/stacks/{served.stack_uids['web']}/changes"
        headers = {"Authorization": f"Bearer {served.token}"}
        with (
            httpx.Client(verify=trusting(tls.ca), timeout=10.0) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: ready"
            began = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            assert next(line for line in lines if line.startswith("event:")) == "event: end"
            assert "data: " in "".join(lines)  # the rest, to the end the server gave the stream
        assert server.wait_exit(timeout=STOPPED_WITHIN) == 0
        # A stop with no stream open takes about 2 s here; held by the stream, it would take
        # the whole shutdown timeout (8 s) and then cancel it.
        assert time.monotonic() - began < STOPPED_WITHIN
    finally:
        server.stop()
