"""`run --fallback` against a real server that goes away: the snapshot is used only when the
server does not answer at all, never when it answers no."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import error_line
from tests.e2e.conftest import Served

# SQLite only (tests/conftest.py, DATABASES): the fallback to the snapshot is the client's,
# whatever database the server has.
pytestmark = pytest.mark.databases("sqlite")

PRINT = "import os; print(os.environ.get('TOKEN'))"
CONFIGURATION, INTEGRITY, UNAUTHENTICATED = 7, 6, 4
OWNER = "owner@localhost"


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
    sealed_with_first_token = snapshot.read_bytes()
    assert b"from-the-server" not in snapshot.read_bytes()

    # A token the server refuses gets the server's answer, not the snapshot: here the very token
    # that sealed a snapshot, revoked since.
    local = served.local.in_process()
    second = local.ok("tokens", "create", "--user", OWNER, "--scope", "public", "--scope", "admin")
    with_second = {**cache, "STACKSAFE_TOKEN": second.stdout.strip()}
    assert remote.ok(*run, env=with_second).stdout == "from-the-server\n"
    listed = local.json("tokens", "list", "--user", OWNER, "--format", "json")
    local.ok("tokens", "revoke", max(listed, key=lambda t: t["created_at_iso"])["id"])
    refused = remote.run(*run, env=with_second)
    assert refused.returncode == UNAUTHENTICATED
    assert "from-the-server" not in refused.stdout
    assert "offline snapshot" not in refused.stderr

    snapshot.write_bytes(sealed_with_first_token)  # the second token's run replaced it
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
