"""`stacksafe users set-password`: from a hidden prompt or stdin, never from argv."""

from __future__ import annotations

from pathlib import Path

from stacksafe.core.installation import open_installation
from stacksafe.core.principals import check_password
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from tests.cli.helpers import Cli, error_line, seed


def test_set_password_from_stdin_lets_the_user_sign_in(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data")
    runner = cli.in_process()
    seed(runner)
    runner.ok("users", "create", "dev@acme.test", "--account", "acme", "--role", "developer")
    done = cli.run("users", "set-password", "dev@acme.test", "--stdin", input="a long passphrase\n")
    assert done.returncode == 0, done.stderr
    assert "a long passphrase" not in done.stdout + done.stderr
    installation = open_installation(Settings.load({}, data_dir=cli.data_dir))
    try:
        assert check_password(installation, "dev@acme.test", SecretValue("a long passphrase"))
        assert (
            check_password(installation, "dev@acme.test", SecretValue("a long passphrase\n"))
            is None
        )
    finally:
        installation.close()


def test_set_password_refuses_short_passwords_missing_input_and_unknown_users(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path / "data")
    seed(cli.in_process())
    short = cli.run("users", "set-password", "owner@x.test", "--stdin", input="short\n")
    assert short.returncode == 2
    assert "at least 12 characters" in error_line(short.stderr)
    no_tty = cli.run("users", "set-password", "owner@x.test", input="")
    assert no_tty.returncode == 2
    assert "--stdin" in error_line(no_tty.stderr)
    unknown = cli.run("users", "set-password", "nobody@x.test", "--stdin", input="long enough pw\n")
    assert unknown.returncode == 3
    remote = cli.run(
        "users",
        "set-password",
        "owner@x.test",
        "--stdin",
        input="long enough pw\n",
        env={"STACKSAFE_ADDR": "https://127.0.0.1:1"},
    )
    assert remote.returncode == 2
    assert "server's machine" in error_line(remote.stderr)
