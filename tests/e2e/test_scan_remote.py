"""`stacksafe scan` in remote mode: the values come over HTTPS from a real server, which
audits their reveal; nothing is written to the local data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Served

# SQLite only (tests/conftest.py, DATABASES): the scan is the client's; the server's reveals on
# PostgreSQL are tests/api's.
pytestmark = pytest.mark.databases("sqlite")

ACCOUNT_VALUE = "remote-acct-passw0rd-42"
STACK_VALUE = "remote-web-t0ken-0a1b2c"


def test_remote_scan_finds_server_values(served: Served, tmp_path: Path) -> None:
    with served.client() as client:
        client.set_secret("SCAN_DB_PASSWORD", ACCOUNT_VALUE, account="acme")
        client.set_secret("SCAN_WEB_TOKEN", STACK_VALUE, stack=served.stack_uids["web"])
    empty = tmp_path / "empty-data-dir"
    empty.mkdir()
    leak = tmp_path / "deploy.log"
    leak.write_text(f"connecting with {ACCOUNT_VALUE}\nclean line\ntoken {STACK_VALUE}\n")
    remote = served.remote(None, empty)

    done = remote.run("scan", "--no-patterns", str(leak))
    assert done.returncode == 1, done.stderr
    lines = [line.split(": ", 2)[2] for line in done.stdout.splitlines()]
    assert lines == [
        "managed secret value of SCAN_DB_PASSWORD (account acme)",
        "managed secret value of SCAN_WEB_TOKEN (stack web of account acme)",
    ]
    for text in (done.stdout, done.stderr):
        assert ACCOUNT_VALUE not in text
        assert STACK_VALUE not in text
    assert list(empty.iterdir()) == []

    only_web = remote.run("scan", "--no-patterns", "--stack", "web", str(leak))
    assert only_web.returncode == 1
    assert "SCAN_WEB_TOKEN" in only_web.stdout

    with served.client() as client:
        reveals = [
            e
            for e in client.audit_logs(limit=50)
            if e.action == "reveal" and e.detail.get("purpose") == "scan"
        ]
    named = {key for e in reveals for key in e.detail.get("keys", {})}
    assert {"SCAN_DB_PASSWORD", "SCAN_WEB_TOKEN"} <= named


def test_a_scan_that_may_not_reveal_what_it_looks_for_fails_instead_of_passing(
    served: Served, tmp_path: Path
) -> None:
    with served.client() as client:
        client.set_secret(
            "SCAN_HIDDEN", "hidden-from-public-tokens-9z", stack=served.stack_uids["web"]
        )
    local = served.local.in_process()
    public = local.ok(
        "tokens", "create", "--user", "owner@localhost", "--scope", "public"
    ).stdout.strip()
    empty = tmp_path / "empty-data-dir"
    empty.mkdir()
    leak = tmp_path / "deploy.log"
    leak.write_text("the value hidden-from-public-tokens-9z leaked\n")
    remote = served.remote(public, empty)

    named = remote.run("scan", "--no-patterns", "--stack", "web", str(leak))
    assert named.returncode == 4, named.stderr  # forbidden, not "clean"
    assert "you may not reveal the values of stack web" in named.stderr
    everything = remote.run("scan", "--no-patterns", str(leak))
    assert everything.returncode == 4, everything.stderr
    patterns_only = remote.run("scan", "--no-known-values", str(leak))
    assert patterns_only.returncode == 0
    for done in (named, everything, patterns_only):
        assert "hidden-from-public-tokens-9z" not in done.stdout + done.stderr
