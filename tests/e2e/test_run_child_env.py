"""`run` against a real server: the command gets the values it asked for, not the token that
fetched them (issue 17, item 5). The command prints its environment and then tries to fetch a
secret it was not given with whatever stacksafe configuration it inherited."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.cli.helpers import STACKSAFE
from tests.e2e.conftest import Served

# Prints the STACKSAFE_* variables it was given, then what `stacksafe secrets get OTHER` gives
# it with them (exit status and output): the means to reach secrets beyond `--only`.
CHILD = f"""
import json, os, subprocess
mine = {{k: v for k, v in os.environ.items() if k.startswith("STACKSAFE_")}}
got = subprocess.run(
    [{str(STACKSAFE)!r}, "secrets", "get", "RUNENV_OTHER", "--stack", "web", "--plain"],
    capture_output=True, text=True, stdin=subprocess.DEVNULL,
)
print(json.dumps({{"env": mine, "given": os.environ.get("RUNENV_GIVEN"),
                  "fetched": [got.returncode, got.stdout]}}))
"""


def test_the_command_cannot_reach_the_server_with_runs_token(
    served: Served, tmp_path: Path
) -> None:
    workdir = tmp_path / "empty"
    workdir.mkdir()
    remote = served.remote(None, workdir)
    fast = remote.in_process()
    fast.ok("secrets", "set", "RUNENV_GIVEN=asked for", "--stack", "web")
    fast.ok("secrets", "set", "RUNENV_OTHER=not asked for", "--stack", "web")
    env = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "STACKSAFE_FALLBACK_PASSPHRASE": "correct horse battery staple",
    }
    run = ("run", "--stack", "web", "--only", "RUNENV_GIVEN", "--fallback")
    child = ("--", sys.executable, "-c", CHILD)

    stripped = json.loads(remote.ok(*run, *child, env=env).stdout)
    assert stripped["env"] == {
        "STACKSAFE_DATA_DIR": str(workdir),
        "STACKSAFE_CA_BUNDLE": str(served.ca),
    }
    assert stripped["given"] == "asked for"
    status, output = stripped["fetched"]
    assert status != 0
    assert "not asked for" not in output
    assert list(workdir.iterdir()) == []  # the command's stacksafe found nothing to open

    kept = json.loads(remote.ok(*run, "--keep-stacksafe-env", *child, env=env).stdout)
    assert kept["env"] == {
        "STACKSAFE_DATA_DIR": str(workdir),
        "STACKSAFE_CA_BUNDLE": str(served.ca),
        "STACKSAFE_ADDR": served.address,
        "STACKSAFE_TOKEN": served.token,
        "STACKSAFE_FALLBACK_PASSPHRASE": "correct horse battery staple",
    }
    assert kept["fetched"] == [0, "not asked for\n"]
