"""`stacksafe auth oidc` (cli/auth_oidc_cmd.py): single sign-on configured, shown (never the
client secret) and removed on the server's machine; a mistake is one `Error:` line."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacksafe.errors import InvalidInput, NotFound
from tests.cli.helpers import Cli
from tests.jwt_issuer import running_issuer

pytestmark = pytest.mark.databases("sqlite")  # CLI parsing and output: tests/core/oidc does both

SECRET = "the-client-secret-7f3a"


def test_configure_show_remove(seeded: Cli, tmp_path: Path) -> None:
    cli = seeded.in_process()
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    with running_issuer() as issuer:
        done = cli.ok(
            "auth", "oidc", "configure", "--issuer", issuer.url, "--client-id", "web",
            "--client-secret-file", str(secret_file), "--groups-claim", "groups",
            "--map-group", "ops=acme:administrator", "--allowed-domain", "Acme.test",
            "--no-password-sign-in",
        )  # fmt: skip
        assert "password sign-in off" in done.stderr
        shown = cli.ok("auth", "oidc", "show")
        assert SECRET not in shown.stdout + shown.stderr + done.stdout + done.stderr
        found = cli.json("auth", "oidc", "show")
        assert found["client_secret"] == "(sealed)"
        assert found["token_endpoint"] == f"{issuer.url}/token"
        assert found["group_roles"] == [
            {"group": "ops", "account": "acme", "role": "administrator"}
        ]
        assert (found["allowed_domains"], found["password_sign_in"]) == (["acme.test"], False)
        audit = cli.ok("audit", "list", "--format", "json")
        assert SECRET not in audit.stdout
    assert "password sign-in is on" in cli.ok("auth", "oidc", "remove").stderr
    cli.fails(NotFound.exit_code, "auth", "oidc", "show")


def test_mistakes_are_one_error_line(seeded: Cli, tmp_path: Path) -> None:
    cli = seeded.in_process()
    missing = tmp_path / "nothing-here"
    done = cli.fails(
        InvalidInput.exit_code, "auth", "oidc", "configure", "--issuer", "https://idp.test",
        "--client-id", "web", "--client-secret-file", str(missing),
    )  # fmt: skip
    assert "--client-secret-file" in done.stderr
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    done = cli.fails(
        InvalidInput.exit_code, "auth", "oidc", "configure", "--issuer", "https://idp.test",
        "--client-id", "web", "--client-secret-file", str(secret_file), "--map-group", "ops",
    )  # fmt: skip
    assert "GROUP=ACCOUNT:ROLE" in done.stderr
    assert SECRET not in done.stderr


def test_remote_mode_is_refused(seeded: Cli) -> None:
    done = seeded.run(
        "auth", "oidc", "show",
        env={"STACKSAFE_ADDR": "https://127.0.0.1:9", "STACKSAFE_TOKEN": "ssk_x"},
    )  # fmt: skip
    assert done.returncode == InvalidInput.exit_code
    assert "auth oidc runs on the server's machine" in done.stderr
