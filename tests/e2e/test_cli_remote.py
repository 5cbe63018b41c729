"""The `stacksafe` CLI in remote mode against a real server.

STACKSAFE_ADDR / STACKSAFE_TOKEN / STACKSAFE_CA_BUNDLE are set and STACKSAFE_DATA_DIR points
to an empty directory that stays empty: everything the commands read and write goes over HTTPS
to the server, which holds the data (checked with the local CLI on the server's data dir).

``remote`` is the installed console script (a subprocess, ~1 s a call), kept where the process
is what a call is about: stdin, a terminal, ``run`` (exec, the child's environment and exit
status, what it imports), and an operator's ``keys rotate`` beside the running server. ``fast``
is the same remote-mode CLI in-process, over the same HTTPS to the same server, for the rest.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.helpers import error_line, on_a_terminal
from tests.cli.test_import_guard import http_modules, imported, server_modules
from tests.e2e.conftest import InProcessRemote, RemoteCli, Served

# SQLite only (tests/conftest.py, DATABASES): the CLI in remote mode speaks HTTP; the server's
# answers on PostgreSQL are tests/api's. Two tests below keep both (the database's part in them).
pytestmark = pytest.mark.databases("sqlite")

# The exit codes of the errors (StacksafeError.exit_code), spelled out as scripts rely on them.
NOT_FOUND, FORBIDDEN, CONFLICT, CONFIGURATION = 3, 4, 5, 7


@pytest.fixture
def empty_dir(tmp_path: Path) -> Iterator[Path]:
    """The remote CLI's data dir: must still be empty after the test."""
    empty = tmp_path / "empty-data-dir"
    empty.mkdir()
    yield empty
    assert list(empty.iterdir()) == [], "the remote CLI wrote to its local data dir"


@pytest.fixture
def remote(served: Served, empty_dir: Path) -> RemoteCli:
    """The console script in remote mode with the owner's token."""
    return served.remote(None, empty_dir)


@pytest.fixture
def fast(remote: RemoteCli) -> InProcessRemote:
    return remote.in_process()


def server_side(served: Served, *target: str) -> dict[str, str]:
    """What the server's own database holds (local CLI, in-process, on the server's data dir)."""
    return served.local.in_process().revealed(*target)


def test_secrets_commands_go_over_http(
    served: Served, remote: RemoteCli, fast: InProcessRemote, tmp_path: Path
) -> None:
    out = fast.ok("secrets", "set", "CLI_ACCOUNT=account value", "--account", "acme").stdout
    assert out == "Set CLI_ACCOUNT on account 'acme' (version 1)\n"
    piped = remote.ok("secrets", "set", "CLI_STDIN", "--stack", "web", "--stdin", input="piped\n")
    assert piped.stdout == "Set CLI_STDIN on stack 'web' (version 1)\n"
    value_file = tmp_path / "value.pem"
    value_file.write_bytes(b"-----BEGIN-----\nline two\n")
    fast.ok("secrets", "set", "CLI_FILE", "--stack", "web", "--from-file", str(value_file))
    assert fast.ok("secrets", "set", "CLI_STDIN=replaced", "--stack", "web").stdout == (
        "Set CLI_STDIN on stack 'web' (version 2)\n"
    )
    expected = {
        "CLI_ACCOUNT": "account value",
        "CLI_STDIN": "replaced",
        "CLI_FILE": "-----BEGIN-----\nline two\n",
    }
    assert expected.items() <= server_side(served, "--stack", "web").items()
    assert server_side(served, "--account", "acme")["CLI_ACCOUNT"] == "account value"

    plain = fast.ok("secrets", "get", "CLI_STDIN", "--stack", "web", "--plain").stdout
    assert plain == "replaced\n"
    inherited = fast.json("secrets", "get", "CLI_ACCOUNT", "--stack", "web")
    assert inherited["inherited"] is True
    assert inherited["raw_value"] is None
    assert inherited["value"].startswith("encrypted:AES256:")

    listed = fast.json("secrets", "list", "--stack", "web", "--reveal", "--format", "json")
    by_key = {item["key"]: item for item in listed["response"]}
    assert by_key["CLI_FILE"]["raw_value"] == "-----BEGIN-----\nline two\n"
    assert by_key["CLI_ACCOUNT"]["inherited"] is True
    table = fast.ok("secrets", "list", "--stack", "web").stdout
    assert "CLI_STDIN" in table
    assert "replaced" not in table  # not revealed unless asked

    dotenv = tmp_path / "dev.env"
    dotenv.write_text("CLI_IMPORTED_A=alpha\nCLI_IMPORTED_B='with spaces'\n")
    report = fast.ok("secrets", "import", str(dotenv), "--stack", "dev").stdout
    assert report.endswith(": added 2, changed 0, unchanged 0\n")
    exported = fast.json("secrets", "export", "--stack", "dev", "-f", "json")
    assert exported["CLI_IMPORTED_B"] == "with spaces"
    assert exported["CLI_ACCOUNT"] == "account value"  # the effective set, inherited included
    assert server_side(served, "--stack", "dev")["CLI_IMPORTED_A"] == "alpha"
    # Importing the export back: the imported keys are unchanged, the inherited one becomes
    # an override of the stack's own.
    reimport = tmp_path / "again.json"
    reimport.write_text(json.dumps(exported))
    again = json.loads(
        fast.ok("secrets", "import", str(reimport), "--stack", "dev", "-o", "json").stdout
    )
    assert again["added"] == ["CLI_ACCOUNT"]
    assert again["changed"] == []
    assert again["counts"] == {"added": 1, "changed": 0, "unchanged": len(exported) - 1}

    unset = fast.ok("secrets", "unset", "CLI_STDIN", "--stack", "web").stdout
    assert unset == "Unset CLI_STDIN on stack 'web'\n"
    assert "CLI_STDIN" not in server_side(served, "--stack", "web")
    missing = fast.fails(NOT_FOUND, "secrets", "get", "CLI_STDIN", "--stack", "web")
    assert "CLI_STDIN" in error_line(missing.stderr)
    fast.fails(NOT_FOUND, "secrets", "list", "--stack", "no-such-stack")
    # A stack cannot unset what it only inherits.
    fast.fails(CONFLICT, "secrets", "unset", "CLI_ACCOUNT", "--stack", "web")


def test_a_remote_import_shows_progress_on_a_terminal_and_a_summary(
    remote: RemoteCli, tmp_path: Path
) -> None:
    """Remote mode: the bar pulses while the server imports (one request), then the summary."""
    env_file = tmp_path / "many.env"
    env_file.write_text("".join(f"REMOTE_{i}=v{i}\n" for i in range(300)))
    status, stdout, terminal = on_a_terminal(
        remote, "secrets", "import", str(env_file), "-s", "dev"
    )
    assert status == 0
    assert "importing 300 keys" in terminal
    assert stdout == "Imported into stack 'dev': added 300, changed 0, unchanged 0\n"


def test_run_reads_the_same_through_the_sdk_when_a_proxy_is_set(
    remote: RemoteCli, fast: InProcessRemote
) -> None:
    """A proxy in the environment (here one the server's address bypasses) sends `run` to the
    SDK, which honours it: the same values, and the same one reveal audited each time. Without
    one, `run` goes from fetch to exec on the light reader alone: no SQLAlchemy, no store, no
    core service, no HTTP library (tests/cli/test_import_guard.py reads the same report)."""
    fast.ok("secrets", "set", "RUN_READER=delivered", "--stack", "web")
    program = "import os; print(os.environ['RUN_READER'])"
    command = ("run", "--stack", "web", "--", sys.executable, "-c", program)
    profiled = {"PYTHONPROFILEIMPORTTIME": "1"}
    proxied = {**profiled, "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"}

    def purposes() -> list[str]:
        events = fast.json("audit", "list", "--key", "RUN_READER", "--format", "json")
        return [e["detail"].get("purpose") for e in events if e["action"] == "reveal"]

    light = remote.ok(*command, env=profiled)
    after_light = purposes()
    sdk = remote.ok(*command, env=proxied)
    assert light.stdout == sdk.stdout == "delivered\n"
    assert "stacksafe.client" in imported(light.stderr)
    assert server_modules(light.stderr) == []
    assert http_modules(light.stderr) == []  # the light reader, over TLS with the CA bundle
    assert "httpx" in http_modules(sdk.stderr)
    assert after_light == [f"run {sys.executable}"]
    assert purposes() == [f"run {sys.executable}"] * 2


def test_run_sees_the_stacks_secrets(remote: RemoteCli, fast: InProcessRemote) -> None:
    fast.ok("secrets", "set", "RUN_SHARED=from account", "--account", "acme")
    fast.ok("secrets", "set", "RUN_OWN=from web", "--stack", "web")
    program = (
        "import json, os; "
        "print(json.dumps({k: os.environ.get(k) for k in ('RUN_SHARED', 'RUN_OWN', 'KEEP')}));"
        "exit(9)"
    )
    done = remote.run(
        "run", "--stack", "web", "--", sys.executable, "-c", program, env={"KEEP": "kept"}
    )
    assert json.loads(done.stdout) == {
        "RUN_SHARED": "from account",
        "RUN_OWN": "from web",
        "KEEP": "kept",
    }
    assert done.returncode == 9  # the child's exit status is the command's
    # The server's audit log names the command the values were delivered to.
    events = fast.json("audit", "list", "--key", "RUN_OWN", "--format", "json")
    purposes = {e["detail"].get("purpose") for e in events if e["action"] == "reveal"}
    assert f"run {sys.executable}" in purposes


def test_a_broken_reference_stops_only_what_delivers_it(
    remote: RemoteCli, fast: InProcessRemote
) -> None:
    # A stack of its own (the other tests read web whole): URL's target deleted since.
    fast.ok("stacks", "create", "refs-remote", "--account", "acme")
    target = ("--stack", "refs-remote")
    fast.ok("secrets", "set", "OTHER=fine", *target)
    fast.ok("secrets", "set", "HOST=db.internal", *target)
    fast.ok("secrets", "set", "URL=postgres://${HOST}/app", *target)
    fast.ok("secrets", "unset", "HOST", *target)
    program = "import json, os; print(json.dumps([os.environ.get(k) for k in ('OTHER', 'URL')]))"

    ran = remote.ok("run", *target, "--only", "OTHER", "--", sys.executable, "-c", program)
    assert json.loads(ran.stdout) == ["fine", None]
    refused = remote.run("run", *target, "--", sys.executable, "-c", program)
    assert refused.returncode == CONFLICT
    assert refused.stdout == ""
    assert "'URL' has a broken reference" in error_line(refused.stderr)
    exported = fast.invoke("export", *target, "--format", "json")
    assert exported.exit_code == CONFLICT
    delivered = json.loads(exported.stdout)
    # The stack's own keys, beside what it inherits from acme (other tests of the module add
    # account secrets to the shared server): every key but the broken one.
    assert delivered["OTHER"] == "fine"
    assert "URL" not in delivered
    assert "HOST" not in delivered


def test_remote_mode_needs_a_token_and_the_ca(served: Served, empty_dir: Path) -> None:
    owner = served.remote(None, empty_dir).in_process()
    no_token = owner.fails(
        CONFIGURATION, "secrets", "list", "--stack", "web", env={"STACKSAFE_TOKEN": ""}
    )
    assert "STACKSAFE_TOKEN" in error_line(no_token.stderr)
    owner.fails(CONFIGURATION, "secrets", "list", "--stack", "web", env={"STACKSAFE_CA_BUNDLE": ""})
    stranger = served.remote("ssk_" + "y" * 43, empty_dir)
    stranger.fails(FORBIDDEN, "secrets", "list", "--stack", "web")  # unauthenticated: 4 too


def test_a_narrowed_developer_token(served: Served, fast: InProcessRemote, empty_dir: Path) -> None:
    fast.ok("secrets", "set", "NARROW_DEV=dev value", "--stack", "dev")
    fast.ok("secrets", "set", "NARROW_WEB=production value", "--stack", "web")
    admin = served.local.in_process()
    admin.ok("users", "create", "dev@example.com", "--account", "acme", "--role", "developer")
    token = admin.ok(
        "tokens",
        "create",
        "--user",
        "dev@example.com",
        "--scope",
        "public",
        "--scope",
        "admin",
        "--environment",
        "development",
    ).stdout.strip()
    developer = served.remote(token, empty_dir)
    quick = developer.in_process()

    got = quick.ok("secrets", "get", "NARROW_DEV", "--stack", "dev", "--plain").stdout
    assert got == "dev value\n"
    listed = quick.json("secrets", "list", "--stack", "dev", "--reveal", "--format", "json")
    assert {i["key"]: i["raw_value"] for i in listed["response"]}["NARROW_DEV"] == "dev value"
    quick.ok("secrets", "set", "NARROW_DEV=changed by dev", "--stack", "dev")
    assert server_side(served, "--stack", "dev")["NARROW_DEV"] == "changed by dev"

    # By name, the token finds only the stacks it works on: it may not learn that others exist
    # (issue 17, item 7). By uid, the server refuses, says why, and audits the attempt.
    unseen = quick.fails(NOT_FOUND, "secrets", "get", "NARROW_WEB", "--stack", "web")
    assert error_line(unseen.stderr) == "Error: stack 'web' does not exist"
    listed_stacks = quick.json("stacks", "list", "--format", "json")
    assert "dev" in {s["name"] for s in listed_stacks}
    assert {s["environment"] for s in listed_stacks} == {"development"}
    web = served.stack_uids["web"]
    refused = quick.fails(FORBIDDEN, "secrets", "get", "NARROW_WEB", "--stack", web, "--plain")
    assert "production" in error_line(refused.stderr)
    quick.fails(FORBIDDEN, "secrets", "list", "--stack", web, "--reveal")
    quick.fails(FORBIDDEN, "secrets", "set", "NARROW_WEB=overwritten", "--stack", web)
    quick.fails(FORBIDDEN, "secrets", "list", "--account", "acme")  # narrowed: no account level
    assert server_side(served, "--stack", "web")["NARROW_WEB"] == "production value"

    verified = admin.ok("audit", "verify")
    assert verified.stdout.startswith("Audit log intact: ")
    events = admin.json("audit", "list", "--key", "NARROW_DEV", "--format", "json")
    reveals = [e for e in events if e["action"] == "reveal" and e["outcome"] == "ok"]
    assert len([e for e in reveals if e["actor"] == "dev@example.com"]) >= 2  # get and list
    table = admin.ok("audit", "list", "--key", "NARROW_DEV").stdout
    assert any("dev@example.com" in line and "reveal" in line for line in table.splitlines())
    denied = admin.json("audit", "list", "--key", "NARROW_WEB", "--format", "json")
    assert any(e["actor"] == "dev@example.com" and e["outcome"] == "denied" for e in denied)


def test_users_and_tokens_commands_go_over_http(
    served: Served, fast: InProcessRemote, empty_dir: Path
) -> None:
    fast.ok("users", "create", "ops@example.com", "--account", "acme", "--role", "operation")
    token = fast.ok(
        "tokens", "create", "--user", "ops@example.com", "--scope", "public", "--expires-in", "1d"
    ).stdout
    assert token.startswith("ssk_")
    assert token.count("\n") == 1  # the token and nothing else: TOKEN=$(stacksafe tokens create)
    ops = served.remote(token.strip(), empty_dir).in_process()
    ops.ok("secrets", "list", "--stack", "web")
    ops.fails(FORBIDDEN, "secrets", "list", "--stack", "web", "--reveal")  # public scope only

    listed = fast.json("tokens", "list", "--user", "ops@example.com", "--format", "json")
    assert [t["user"] for t in listed] == ["ops@example.com"]
    assert listed[0]["scopes"] == "public"
    assert listed[0]["expires_at_iso"] is not None
    assert token.strip() not in json.dumps(listed)
    # What the server's own database says, read locally on its data dir.
    server_listed = served.local.in_process().json(
        "tokens", "list", "--user", "ops@example.com", "--format", "json"
    )
    assert server_listed == listed

    fast.ok("tokens", "revoke", listed[0]["id"])
    ops.fails(FORBIDDEN, "secrets", "list", "--stack", "web")  # 401 shares exit code 4
    revoked = fast.json("tokens", "list", "--user", "ops@example.com", "--format", "json")
    assert revoked[0]["revoked_at_iso"] is not None
    fast.fails(CONFLICT, "tokens", "revoke", listed[0]["id"])


def test_versions_commands_go_over_http(served: Served, fast: InProcessRemote) -> None:
    web = ("--stack", "web")
    fast.ok("secrets", "set", "VERSIONED=one", *web)
    fast.ok("secrets", "set", "VERSIONED=two", *web)
    rows = fast.json("secrets", "history", "VERSIONED", *web, "--reveal", "--format", "json")
    assert [(r["version"], r["raw_value"]) for r in rows] == [(2, "two"), (1, "one")]

    rolled = fast.ok("secrets", "rollback", "VERSIONED", *web, "--to-version", "1").stdout
    assert rolled == "Rolled VERSIONED on stack 'web' back to version 1's value (now version 3)\n"
    assert server_side(served, *web)["VERSIONED"] == "one"
    fast.fails(CONFLICT, "secrets", "rollback", "VERSIONED", *web, "--to-version", "3")

    fast.ok("secrets", "unset", "VERSIONED", *web)
    fast.ok("secrets", "undelete", "VERSIONED", *web)
    assert server_side(served, *web)["VERSIONED"] == "one"
    fast.ok("secrets", "destroy", "VERSIONED", *web, "--version", "2")
    fast.fails(CONFLICT, "secrets", "rollback", "VERSIONED", *web, "--to-version", "2")

    moment = datetime.now(UTC).isoformat()
    fast.ok("secrets", "set", "VERSIONED_LATE=late", *web)
    report = fast.ok("secrets", "rollback", *web, "--to", moment).stdout
    assert "VERSIONED_LATE" in report.splitlines()[2]  # deleted
    assert "VERSIONED_LATE" not in server_side(served, *web)

    fast.ok("secrets", "max-versions", "5", *web)
    assert fast.ok("secrets", "max-versions", *web).stdout == "5\n"
    fast.ok("secrets", "max-versions", "all", *web)
    local_rows = served.local.in_process().json(
        "secrets", "history", "VERSIONED", *web, "--format", "json"
    )
    assert [r["action"] for r in local_rows] == ["undelete", "delete", "rollback", "set", "set"]


def test_environment_commands_go_over_http(served: Served, fast: InProcessRemote) -> None:
    fast.ok("stacks", "create", "env-stg", "--account", "acme", "--environment", "staging")
    fast.ok("secrets", "set", "ENV_PROD_ONLY=p", "--account", "acme", "-e", "production")
    assert "ENV_PROD_ONLY" in server_side(served, "--stack", "web")
    assert "ENV_PROD_ONLY" not in server_side(served, "--stack", "env-stg")
    shown = fast.ok("secrets", "restrict", "ENV_PROD_ONLY", "--account", "acme").stdout
    assert shown.endswith("is inherited by stacks of: production\n")
    fast.ok("secrets", "restrict", "ENV_PROD_ONLY", "--account", "acme", "-e", "staging")
    assert "ENV_PROD_ONLY" in server_side(served, "--stack", "env-stg")

    fast.ok("secrets", "set", "ENV_COPY=from web", "--stack", "web")
    rows = fast.json("secrets", "diff", "--stack", "web", "--stack", "env-stg", "--format", "json")
    assert {r["key"]: r["state"] for r in rows}["ENV_COPY"] == "only_left"
    fast.fails(FORBIDDEN, "secrets", "copy", "--from-stack", "web", "--to-stack", "env-stg")
    fast.ok(
        "secrets",
        "copy",
        "--from-stack",
        "web",
        "--to-stack",
        "env-stg",
        "-k",
        "ENV_COPY",
        "--allow-production-source",
    )
    assert server_side(served, "--stack", "env-stg")["ENV_COPY"] == "from web"


# Both databases: the running server meets keys wrapped under a version it does not hold and
# checks it against the database, while `keys rotate` re-wraps with compare-and-set writes.
@pytest.mark.databases("sqlite", "postgresql")
def test_a_master_key_rotation_under_a_running_server(
    served: Served, fast: InProcessRemote
) -> None:
    fast.ok("secrets", "set", "ROTATION_BEFORE=written before", "--stack", "web")
    assert fast.ok("secrets", "get", "ROTATION_BEFORE", "--stack", "web", "--plain").stdout == (
        "written before\n"
    )

    rotated = served.local.ok("keys", "rotate").stdout  # a separate process, like an operator

    assert "master key version" in rotated
    # The server started before the rotation: it meets keys wrapped under the new version,
    # reloads its key file and carries on, for reads and for writes.
    got = fast.ok("secrets", "get", "ROTATION_BEFORE", "--stack", "web", "--plain").stdout
    assert got == "written before\n"
    fast.ok("secrets", "set", "ROTATION_AFTER=written after", "--stack", "web")
    assert server_side(served, "--stack", "web")["ROTATION_AFTER"] == "written after"
    status = served.local.in_process().ok("keys", "status").stdout
    assert "still wrapped" not in status


def test_rotation_commands_go_over_http(served: Served, fast: InProcessRemote) -> None:
    web = ("--stack", "web")
    fast.ok("secrets", "generate", "ROTATED", *web, "--length", "16", "--rotate-every", "30d")
    first = fast.ok("secrets", "get", "ROTATED", *web, "--plain").stdout
    policy = fast.json("rotation", "show", "ROTATED", *web, "--format", "json")
    assert (policy["rotator"], policy["config"]["length"]) == ("generate", 16)
    done = fast.json("rotation", "run", "--key", "ROTATED", *web, "--format", "json")
    assert [d["outcome"] for d in done] == ["rotated"]
    assert fast.ok("secrets", "get", "ROTATED", *web, "--plain").stdout != first
    previous = fast.ok("secrets", "get", "ROTATED", *web, "--label", "previous", "--plain")
    assert previous.stdout == first
    status = fast.json("rotation", "status", "--all", "--format", "json")
    assert ("web", "ROTATED", "ok") in {(s["stack"], s["key"], s["state"]) for s in status}
    refused = fast.invoke("rotation", "run")
    assert refused.exit_code == 2
    assert "runs where the master key is" in error_line(refused.stderr)
    fast.ok("rotation", "clear", "ROTATED", *web)
    fast.fails(NOT_FOUND, "rotation", "show", "ROTATED", *web)


@pytest.mark.databases("sqlite", "postgresql")  # after the rotation above, on both
def test_the_audit_chain_is_intact_after_all_of_the_above(served: Served) -> None:
    done = served.local.in_process().ok("audit", "verify")
    assert done.stdout.startswith("Audit log intact: ")
    assert int(done.stdout.split(": ")[1].split()[0]) > 0


def test_audit_list_reads_a_since_without_offset_as_utc(served: Served) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    events = served.local.in_process().json(
        "audit", "list", "--since", yesterday, "--format", "json"
    )
    assert events  # the seeding happened since


def test_accounts_stacks_and_audit_commands_go_over_http(
    served: Served, fast: InProcessRemote
) -> None:
    made = fast.ok("accounts", "create", "remote-made").stdout
    assert made.startswith("Created account 'remote-made'")
    fast.ok("stacks", "create", "api", "--account", "remote-made", "--environment", "staging")
    names = [a["name"] for a in fast.json("accounts", "list", "--format", "json")]
    assert "remote-made" in names
    stacks = fast.json("stacks", "list", "--account", "remote-made", "--format", "json")
    assert [(s["name"], s["environment"], s["account"]) for s in stacks] == [
        ("api", "staging", "remote-made")
    ]
    # The server's own log saw it, under the owner's identity, not the local operator's.
    created = fast.json("audit", "list", "--format", "json", "--limit", "20")
    assert any(e["action"] == "stack.create" and e["actor"] == "owner@localhost" for e in created)
    assert fast.ok("audit", "verify").stdout.startswith("Audit log intact: ")
    assert served.local.in_process().ok("stacks", "list", "--account", "remote-made").exit_code == 0
