"""`run --fallback` against a real server that goes away: the snapshot is used only when the
server does not answer at all, never when it answers no."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.cli.helpers import error_line
from tests.e2e.conftest import Served

PRINT = "import os; print(os.environ.get('TOKEN'))"
CONFIGURATION, INTEGRITY, UNAUTHENTICATED = 7, 6, 4


def test_fallback_when_the_server_is_gone(served_fresh: Served, tmp_path: Path) -> None:
    served = served_fresh
    remote = served.remote(None, tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    remote.in_process().ok("secrets", "set", "TOKEN=from-the-server", "--stack", "web")
    run = ("run", "--stack", "web", "--fallback", "--", sys.executable, "-c", PRINT)

    online = remote.ok(*run, env=cache)
    assert (online.stdout, online.stderr) == ("from-the-server\n", "")
    [snapshot] = (tmp_path / "cache" / "stacksafe" / "offline").iterdir()
    assert b"from-the-server" not in snapshot.read_bytes()

    # A token the server refuses gets the server's answer, not the snapshot.
    refused = remote.run(*run, env={**cache, "STACKSAFE_TOKEN": "ssk_" + "0" * 43})
    assert refused.returncode == UNAUTHENTICATED
    assert "from-the-server" not in refused.stdout

    served.process.stop()
    offline = remote.ok(*run, env=cache)
    assert offline.stdout == "from-the-server\n"
    assert "cannot reach the stacksafe server" in offline.stderr
    assert "using the offline snapshot of 'web' from " in offline.stderr
    without = remote.run("run", "--stack", "web", "--", sys.executable, "-c", PRINT, env=cache)
    assert without.returncode == CONFIGURATION
    assert "cannot reach" in error_line(without.stderr)

    snapshot.write_bytes(snapshot.read_bytes().replace(b"\n", b"\n ", 1))
    damaged = remote.run(*run, env=cache)
    assert damaged.returncode == INTEGRITY
    assert "cannot be opened" in damaged.stderr
    assert json.dumps("from-the-server") not in damaged.stdout
