"""`stacksafe export --format ...` and `stacksafe materialize` through the real CLI.

The export runs the console script's ``main()`` in this process; ``materialize`` the installed
script (the files' modes are its process's; ``--watch`` runs until it is stopped)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import yaml

from tests.cli.helpers import Cli, InProcessCli, error_line
from tests.cli.main_in_process import MainInProcess

WEB = ("--stack", "web")
BAD_INPUT = 2
AWKWARD = 'it\'s $HOME `x` "y" \\ ; $(true) *'


def test_export_formats_read_back_by_their_consumers(
    seeded_here: MainInProcess, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    run = cli_runner
    run.ok("secrets", "set", "SHARED=from the account", "--account", "acme")
    run.ok("secrets", "set", f"AWKWARD={AWKWARD}", *WEB)
    run.ok("secrets", "set", "PEM", *WEB, "--stdin", input="-----BEGIN-----\nabc\n-----END-----")
    expected = {
        "SHARED": "from the account",
        "AWKWARD": AWKWARD,
        "PEM": "-----BEGIN-----\nabc\n-----END-----",
    }
    shell = seeded_here.ok("export", *WEB, "--format", "shell").stdout
    script = tmp_path / "env.sh"
    script.write_text(shell)
    keys = "('SHARED', 'AWKWARD', 'PEM')"
    dump = f"import json, os; print(json.dumps({{k: os.environ[k] for k in {keys}}}))"
    sourced = subprocess.run(
        ["bash", "-c", f'set -a; source "$1"; exec python3 -c "{dump}"', "-", str(script)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert json.loads(sourced.stdout) == expected

    assert yaml.safe_load(run.ok("export", *WEB, "--format", "yaml").stdout) == expected
    assert json.loads(run.ok("secrets", "export", *WEB, "--format", "json").stdout) == expected
    manifest = yaml.safe_load(run.ok("export", *WEB, "--format", "k8s").stdout)
    assert manifest["metadata"]["name"] == "web"
    assert {k: base64.b64decode(v).decode() for k, v in manifest["data"].items()} == expected
    named = yaml.safe_load(run.ok("export", *WEB, "-f", "k8s", "--name", "web-prod").stdout)
    assert named["metadata"]["name"] == "web-prod"

    refused = run.invoke("export", *WEB, "--format", "docker-env")
    assert refused.exit_code == BAD_INPUT
    assert "cannot carry PEM" in error_line(refused.stderr)
    assert refused.stdout == ""  # nothing half-written
    run.ok("secrets", "unset", "PEM", *WEB)
    docker = run.ok("export", *WEB, "--format", "docker-env").stdout
    assert docker.splitlines() == [f"AWKWARD={AWKWARD}", "SHARED=from the account"]

    events = run.json("audit", "list", "--key", "AWKWARD", "--format", "json")
    purposes = {e["detail"].get("purpose") for e in events if e["action"] == "reveal"}
    assert {"export shell", "export yaml", "export k8s"} <= purposes


def test_materialize_writes_files_and_watch_keeps_them_current(
    seeded: Cli, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    run = cli_runner
    run.ok("secrets", "set", "DB_PASSWORD=pw-1", *WEB)
    run.ok("secrets", "set", "SHARED=account value", "--account", "acme")
    target = tmp_path / "secrets"
    done = seeded.ok("materialize", *WEB, "--dir", str(target))
    assert f"{target}: 2 written, 0 unchanged, 0 removed" in done.stderr
    assert "pw-1" not in done.stdout + done.stderr
    assert (target / "DB_PASSWORD").read_text() == "pw-1"
    assert (target / "SHARED").stat().st_mode & 0o777 == 0o400

    watcher = subprocess.Popen(
        seeded.argv("materialize", *WEB, "--dir", str(target), "--watch", "--interval", "0.1"),
        env=seeded.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run.ok("secrets", "set", "DB_PASSWORD=pw-2", *WEB)
        run.ok("secrets", "unset", "SHARED", "--account", "acme")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # waiting for a condition, bounded
            current = (target / "DB_PASSWORD").read_text()
            if current == "pw-2" and not (target / "SHARED").exists():
                break
            time.sleep(0.05)
        assert (target / "DB_PASSWORD").read_text() == "pw-2"
        assert not (target / "SHARED").exists()
    finally:
        watcher.terminate()
        _, stderr = watcher.communicate(timeout=30)
    assert "pw-" not in stderr


def test_materialize_refuses_a_directory_others_may_write(
    seeded: Cli, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    cli_runner.ok("secrets", "set", "DB_PASSWORD=pw-1", *WEB)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    done = seeded.fails(2, "materialize", *WEB, "--dir", str(shared))
    line = error_line(done.stderr)
    assert line.startswith(f"Error: {shared} is writable by everyone (mode 0777), ")
    assert f"chmod go-w {shared}" in line
    assert "pw-1" not in done.stdout + done.stderr
    assert list(shared.iterdir()) == []
