"""What the CLI hands over, against a real server (issue 17, items 5 to 7): `run`'s command gets
the values it asked for, not the token that fetched them; a dotenv export is safe to source; no
API answer may be cached."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import STACKSAFE, error_line
from tests.e2e.conftest import Served, trusting

# SQLite only (tests/conftest.py, DATABASES): what the CLI hands its command is the client's doing,
# whatever database the server has.
pytestmark = pytest.mark.databases("sqlite")

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


NOBODY = 65534
# Both `stacksafe run` and its command as the unprivileged user nobody. The tests run as root,
# and root reads any process's environ: the point is what a process of the same ordinary user
# can read. The interpreter lives under /root (0700), so nobody keeps CAP_DAC_READ_SEARCH to reach
# it: that bypasses file permissions only, not the ptrace check that guards a non-dumpable
# process's /proc/PID/environ (CAP_SYS_PTRACE), and the child reads its parent's environ when
# stacksafe leaves itself dumpable (checked by hand with the prctl call taken out).
AS_NOBODY = [
    "setpriv",
    f"--reuid={NOBODY}",
    f"--regid={NOBODY}",
    "--clear-groups",
    "--inh-caps=+dac_read_search",
    "--ambient-caps=+dac_read_search",
]
# What the command reports: its uid and its parent's, the token if its own environment has it,
# and what its parent's environ holds of STACKSAFE_TOKEN (or why it could not be read).
PEEK = r"""
echo "uids: $(id -u) $(awk '/^Uid:/ {print $2}' /proc/$PPID/status)"
echo "own: ${STACKSAFE_TOKEN:-none}"
if environ=$( { tr '\0' '\n' < /proc/$PPID/environ; } 2>&1); then
    echo "parent: $(printf '%s\n' "$environ" | grep '^STACKSAFE_TOKEN=')"
else
    echo "parent unreadable: $environ"
fi
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory nobody can read (pytest's tmp dirs are root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="stacksafe-nobody-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.mark.parametrize("supervised", ["--mask", "--watch"])
def test_a_supervised_command_cannot_read_the_token_from_its_parent(
    served: Served, shared_dir: Path, supervised: str
) -> None:
    ca = shared_dir / "ca.pem"
    shutil.copyfile(served.ca, ca)
    ca.chmod(0o644)
    workdir = shared_dir / "empty"
    workdir.mkdir()
    os.chown(workdir, NOBODY, NOBODY)
    remote = served.remote(None, workdir)
    env = remote.env({"STACKSAFE_CA_BUNDLE": str(ca), "HOME": str(shared_dir)})
    done = subprocess.run(
        [*AS_NOBODY, str(STACKSAFE), "run", "--stack", "web", supervised, "--", "sh", "-c", PEEK],
        capture_output=True,
        text=True,
        cwd=shared_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"uids: {NOBODY} {NOBODY}"  # the same ordinary user on both sides
    assert lines[1] == "own: none"
    assert lines[2].startswith("parent unreadable: "), lines[2]
    assert "Permission denied" in lines[2]
    assert served.token not in done.stdout + done.stderr


HOSTILE = {
    "HANDOVER_SUBSTITUTION": "$(touch PWNED)",
    "HANDOVER_BACKTICKS": "`touch PWNED`",
    "HANDOVER_QUOTES": "'; touch PWNED; \\'\"",
    # $${ stores a literal ${ (a ${IFS} reference to a missing key would be refused).
    "HANDOVER_LINES": "a\ntouch PWNED\n$${IFS}!",
}


def test_a_dotenv_export_from_the_server_is_safe_to_source(served: Served, tmp_path: Path) -> None:
    workdir = tmp_path / "empty"
    workdir.mkdir()
    fast = served.remote(None, workdir).in_process()  # the export's text is what is tested
    fast.ok("stacks", "create", "handover", "--account", "acme")
    for key, value in HOSTILE.items():
        fast.ok("secrets", "set", key, "--stack", "handover", "--stdin", input=value + "\n")
    exported = fast.ok("export", "--stack", "handover", "--format", "dotenv", "--raw").stdout
    script = tmp_path / "handover.env"
    script.write_text(exported)
    dump = "import json, os, sys; print(json.dumps({k: os.environ.get(k) for k in sys.argv[1:]}))"
    for shell in ("bash", "dash"):
        assert shutil.which(shell), shell
        program = 'set -a; . "$1"; shift; exec "$PY" -c "$DUMP" "$@"'
        done = subprocess.run(
            [shell, "-c", program, "-", str(script), *sorted(HOSTILE)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "PY": sys.executable, "DUMP": dump},
            check=False,
            timeout=60,
        )
        assert not (tmp_path / "PWNED").exists(), f"{shell} ran a command from the export"
        assert (done.returncode, done.stderr) == (0, "")
        assert json.loads(done.stdout) == HOSTILE

    fast.ok("secrets", "set", "HANDOVER_BOTH", "--stack", "handover", "--stdin", input="it's $(x)")
    refused = fast.fails(2, "export", "--stack", "handover", "--format", "dotenv", "--raw")
    assert "cannot carry HANDOVER_BOTH" in error_line(refused.stderr)
    assert refused.stdout == ""


def test_api_answers_are_not_cached(served: Served) -> None:
    headers = {"Authorization": f"Bearer {served.token}"}
    stack = served.stack_uids["web"]
    with httpx.Client(base_url=served.address, verify=trusting(served.ca), headers=headers) as c:
        answers = [
            c.get(f"/api/3/stacks/{stack}/secrets", params={"reveal": "true"}) for _ in range(2)
        ]
        answers.append(c.get("/api/3/stacks/no-such-stack/secrets"))
        answers.append(c.get("/api/3/stacks"))
    assert [a.status_code for a in answers] == [200, 200, 404, 200]
    assert {a.headers.get("cache-control") for a in answers} == {"no-store"}
