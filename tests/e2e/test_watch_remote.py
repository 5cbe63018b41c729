"""`run --watch` and `materialize --watch` in remote mode, against a real `serve` over TLS.

A watcher compares the list without values; what tells it a value changed is the key's version
in the list's ``meta`` (the Secret objects carry none). A rotation keeps the set of keys as it
was, so only the versions show it. When it compares: as soon as the server pushes a change (the
stack's change stream), else every ``--interval``. The tests at ``--interval 0.1`` hold the
comparison; those at ``--interval 60`` can only pass by the push (within 2 s of a set). And a
server with streams open still stops at once. One server on SQLite for the module: the watching
is the client's, the storage is not what is tested here (the push on both databases:
tests/api/test_changes_stream.py).
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
# A watcher polls every 0.1 s: a change it sees shows within a second; this bounds a miss.
SEEN_WITHIN = 15.0
PUSHED_WITHIN = 2.0  # seconds from `secrets set` returning to a watcher at --interval 60 acting
STOPPED_WITHIN = 6.0  # `serve`'s shutdown timeout is 8 s


@pytest.fixture(scope="module")
def served(tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("watch-remote")
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
    condition: Callable[[], bool],
    proc: subprocess.Popen[str],
    what: str,
    within: float = SEEN_WITHIN,
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:  # a bounded wait for a condition
        if condition():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"not within {within} s: {what}")


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


# --interval 0.1: within a second whether pushed or polled; --interval 60: only the push can.
INTERVALS = pytest.mark.parametrize(
    ("interval", "within"), [("0.1", SEEN_WITHIN), ("60", PUSHED_WITHIN)], ids=["0.1s", "push"]
)


@INTERVALS
def test_remote_run_watch_restarts_the_command_when_a_value_is_rotated(
    remote: RemoteCli, fast: InProcessRemote, tmp_path: Path, interval: str, within: float
) -> None:
    fast.ok("secrets", "set", "TOKEN=v1", *WEB)
    log = tmp_path / "service.log"
    argv = remote.argv(
        "run", *WEB, "--watch", "--interval", interval, "--", PYTHON, "-c", SERVICE, str(log)
    )
    proc = subprocess.Popen(argv, env=remote.env(), stderr=subprocess.PIPE, text=True)
    try:
        _until(lambda: _lines(log) == ["start v1"], proc, "the command started")
        fast.ok("secrets", "set", "TOKEN=v2", *WEB)  # same keys, a new version
        _until(
            lambda: _lines(log) == ["start v1", "stop v1", "start v2"],
            proc,
            f"the command restarted on the new value: {_lines(log)}",
            within,
        )
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert "v1" not in stderr
    assert "v2" not in stderr
    assert "polling" not in stderr, stderr  # the server pushed all along


@INTERVALS
def test_remote_materialize_watch_rewrites_a_rotated_value(
    remote: RemoteCli, fast: InProcessRemote, tmp_path: Path, interval: str, within: float
) -> None:
    fast.ok("secrets", "set", "MAT_SHARED=account-1", "--account", "acme")
    target = tmp_path / "secrets"
    proc = subprocess.Popen(
        remote.argv("materialize", *WEB, "--dir", str(target), "--watch", "--interval", interval),
        env=remote.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    shared = target / "MAT_SHARED"
    try:
        _until(lambda: shared.exists(), proc, "the files were written")
        assert shared.read_text() == "account-1"
        # An inherited key rotated at the account: the stack's set of keys stays the same.
        fast.ok("secrets", "set", "MAT_SHARED=account-2", "--account", "acme")
        _until(lambda: shared.read_text() == "account-2", proc, "the file was rewritten", within)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert "account-" not in stderr


def test_remote_secrets_list_shows_versions_and_provenance(fast: InProcessRemote) -> None:
    fast.ok("secrets", "set", "LIST_SHARED=a", "--account", "acme")
    fast.ok("secrets", "set", "LIST_STAGING=s", "--account", "acme", "--environment", "staging")
    fast.ok("secrets", "set", "LIST_SHARED=own", *WEB)
    fast.ok("secrets", "set", "LIST_SHARED=own again", *WEB)
    fast.ok("secrets", "set", "LIST_STAGING=web's own", *WEB)  # web is production: no override

    listed = fast.json("secrets", "list", *WEB, "--format", "json")
    assert listed["meta"]["LIST_SHARED"] == {
        "version": 2,
        "overrides": True,
        "environments": None,
    }
    assert listed["meta"]["LIST_STAGING"]["overrides"] is False
    table = fast.ok("secrets", "list", *WEB).stdout.splitlines()
    row = next(line.split("  ") for line in table if line.startswith("LIST_SHARED "))
    assert [cell.strip() for cell in row if cell.strip()][1:3] == ["overrides account", "2"]

    own = fast.json("secrets", "list", "--account", "acme", "--format", "json")
    assert own["meta"]["LIST_STAGING"] == {
        "version": 1,
        "overrides": False,
        "environments": ["staging"],
    }
    account_table = fast.ok("secrets", "list", "--account", "acme").stdout.splitlines()
    assert account_table[0].split() == [
        "KEY",
        "FROM",
        "VERSION",
        "ENVIRONMENTS",
        "UPDATED",
        "VALUE",
    ]
    staging = next(line for line in account_table if line.startswith("LIST_STAGING "))
    assert staging.split()[1:4] == ["account", "1", "staging"]


def test_a_server_stops_at_once_with_streams_open(served: Served, tls: TlsFiles) -> None:
    """SIGTERM ends the open streams (an ``end`` event) before uvicorn waits for responses in
    flight. A second server on the module's data dir: the module's own stays up."""
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
