"""`run --watch` and `materialize --watch` in remote mode, against a real `serve` over TLS.

A watcher polls the list without values; what tells it a value changed is the key's version in
the list's ``meta`` (the Secret objects carry none). A rotation keeps the set of keys as it was,
so only the versions show it. One server on SQLite for the module: the watching is the
client's, the storage is not what is tested here.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import InProcessRemote, RemoteCli, Served, TlsFiles, serve_seeded

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


def _until(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + SEEN_WITHIN
    while time.monotonic() < deadline:  # a bounded wait for a condition
        if condition():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_remote_run_watch_restarts_the_command_when_a_value_is_rotated(
    remote: RemoteCli, fast: InProcessRemote, tmp_path: Path
) -> None:
    fast.ok("secrets", "set", "TOKEN=v1", *WEB)
    log = tmp_path / "service.log"
    argv = remote.argv(
        "run", *WEB, "--watch", "--interval", "0.1", "--", PYTHON, "-c", SERVICE, str(log)
    )
    proc = subprocess.Popen(argv, env=remote.env(), stderr=subprocess.PIPE, text=True)
    try:
        _until(lambda: _lines(log) == ["start v1"], proc, "the command started")
        fast.ok("secrets", "set", "TOKEN=v2", *WEB)  # same keys, a new version
        _until(
            lambda: _lines(log) == ["start v1", "stop v1", "start v2"],
            proc,
            f"the command restarted on the new value: {_lines(log)}",
        )
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert "v1" not in stderr
    assert "v2" not in stderr


def test_remote_materialize_watch_rewrites_a_rotated_value(
    remote: RemoteCli, fast: InProcessRemote, tmp_path: Path
) -> None:
    fast.ok("secrets", "set", "MAT_SHARED=account-1", "--account", "acme")
    target = tmp_path / "secrets"
    proc = subprocess.Popen(
        remote.argv("materialize", *WEB, "--dir", str(target), "--watch", "--interval", "0.1"),
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
        _until(lambda: shared.read_text() == "account-2", proc, "the file was rewritten")
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
