"""`stacksafe auth jwt` (cli/auth_cmd.py): issuers and roles configured, listed, shown and
removed on the server's machine; a mistake is one `Error:` line; remote mode is refused."""

from __future__ import annotations

from pathlib import Path

from stacksafe.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from tests.cli.helpers import Cli, InProcessCli
from tests.jwt_issuer import Issuer, running_issuer

CLUSTER = "https://kubernetes.default.svc.cluster.local"


def _jwks(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(Issuer().jwks_text())
    return path


def test_issuers_and_roles_round_trip(seeded: Cli, tmp_path: Path) -> None:
    cli = seeded.in_process()
    cli.ok(
        "auth",
        "jwt",
        "add-issuer",
        "cluster",
        "--issuer",
        CLUSTER,
        "--jwks-file",
        str(_jwks(tmp_path)),
    )
    with running_issuer() as issuer:
        cli.ok("auth", "jwt", "add-issuer", "gh", "--issuer", issuer.url, "--discovery")
    cli.ok(
        "auth", "jwt", "add-role", "deploy", "--issuer", "gh", "--audience", "stacksafe",
        "--claim", "repository=acme/web", "--claim", "ref=refs/heads/main",
        "--claim", "ref=refs/heads/release", "--claim-glob", "sub=repo:acme/*",
        "--account", "acme", "--role", "deployer", "--stack", "web", "--environment", "production",
        "--scope", "admin", "--ttl", "10m", "--max-ttl", "30m", "--refuse-replay",
    )  # fmt: skip
    issuers = cli.json("auth", "jwt", "list-issuers", "--format", "json")
    assert [(i["name"], i["keys_from"], i["key_ids"]) for i in issuers] == [
        ("cluster", "file", ["rsa-1"]),
        ("gh", "discovery", ["rsa-1"]),
    ]
    role = cli.json("auth", "jwt", "show-role", "deploy")
    assert role["claims"] == [
        {"claim": "repository", "glob": False, "values": ["acme/web"]},
        {"claim": "ref", "glob": False, "values": ["refs/heads/main", "refs/heads/release"]},
        {"claim": "sub", "glob": True, "values": ["repo:acme/*"]},
    ]
    assert (role["issuer"], role["account"], role["role"]) == ("gh", "acme", "deployer")
    assert (role["ttl_seconds"], role["max_ttl_seconds"], role["refuse_replay"]) == (
        600,
        1800,
        True,
    )
    assert role["scopes"] == ["admin"]
    assert role["environments"] == ["production"]
    table = cli.ok("auth", "jwt", "list-roles").stdout
    assert "deploy" in table
    assert "600s" in table
    assert cli.json("auth", "jwt", "show-issuer", "gh")["issuer"].startswith("http://127.0.0.1")
    cli.fails(Conflict.exit_code, "auth", "jwt", "remove-issuer", "gh")
    assert "revoked" in cli.ok("auth", "jwt", "remove-role", "deploy").stderr
    cli.ok("auth", "jwt", "remove-issuer", "gh")
    cli.fails(NotFound.exit_code, "auth", "jwt", "show-issuer", "gh")
    assert cli.json("auth", "jwt", "list-roles", "--format", "json") == []


def test_mistakes_are_one_error_line(seeded: Cli, tmp_path: Path) -> None:
    cli: InProcessCli = seeded.in_process()
    jwks = str(_jwks(tmp_path))
    cli.fails(InvalidInput.exit_code, "auth", "jwt", "add-issuer", "x", "--issuer", CLUSTER)
    cli.fails(
        InvalidInput.exit_code,
        "auth", "jwt", "add-issuer", "x", "--issuer", CLUSTER, "--discovery", "--jwks-file", jwks,
    )  # fmt: skip
    cli.fails(
        InvalidInput.exit_code,
        "auth", "jwt", "add-issuer", "x", "--issuer", CLUSTER, "--jwks-file", str(tmp_path / "no"),
    )  # fmt: skip
    cli.ok("auth", "jwt", "add-issuer", "cluster", "--issuer", CLUSTER, "--jwks-file", jwks)
    for bad in (["--claim", "novalue"], ["--ttl", "soon"], ["--claim-glob", "=x"]):
        cli.fails(
            InvalidInput.exit_code,
            "auth", "jwt", "add-role", "r", "--issuer", "cluster", "--audience", "a",
            "--account", "acme", "--role", "viewer", *bad,
        )  # fmt: skip
    assert cli.json("auth", "jwt", "list-roles", "--format", "json") == []


def test_remote_mode_is_refused(seeded: Cli) -> None:
    done = seeded.run(
        "auth", "jwt", "list-issuers",
        env={"STACKSAFE_ADDR": "https://127.0.0.1:9", "STACKSAFE_TOKEN": "ssk_x"},
    )  # fmt: skip
    assert done.returncode == InvalidInput.exit_code
    assert "runs on the server's machine" in done.stderr


def test_login_needs_a_server_and_both_settings(cli: Cli) -> None:
    done = cli.run("login", "--role", "r", "--jwt-file", "-")
    assert done.returncode == ConfigurationError.exit_code
    assert "STACKSAFE_ADDR" in done.stderr
    done = cli.run("login", "--role", "r", env={"STACKSAFE_ADDR": "https://127.0.0.1:9"})
    assert done.returncode == ConfigurationError.exit_code
    assert "--jwt-file" in done.stderr
