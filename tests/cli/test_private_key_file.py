"""The CLI (and so `serve`) will not use a master key file or passphrase file that other users
may read or write: one line naming the file and the chmod, exit 7, nothing read or written."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import Cli, InProcessCli, error_line
from tests.cli.main_in_process import in_this_process

CONFIGURATION = 7
WEB = ("--stack", "web", "--account", "acme")


def test_a_world_readable_key_file_is_refused_until_chmod(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    cli_runner.ok("secrets", "set", "KEPT=before", *WEB)
    key_file = seeded.data_dir / "master.key"
    key_file.chmod(0o644)
    for command in (("secrets", "list", *WEB), ("secrets", "set", "KEPT=after", *WEB)):
        done = seeded.fails(CONFIGURATION, *command)
        assert error_line(done.stderr) == (
            f"Error: master key file {key_file} is readable by other users (mode 0644); it must "
            f"be private to its owner, as ssh insists for private keys: run `chmod 600 "
            f"{key_file}`; nothing was read"
        )
    key_file.chmod(0o600)
    assert cli_runner.revealed(*WEB) == {"KEPT": "before"}


def test_a_group_readable_passphrase_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple and then some\n")
    passphrase.chmod(0o600)
    env = {"STACKSAFE_MASTER_KEY_PASSPHRASE_FILE": str(passphrase)}
    in_this_process(cli).ok("init", env=env)
    in_this_process(cli).ok("accounts", "create", "acme", env=env)
    passphrase.chmod(0o640)
    done = cli.fails(CONFIGURATION, "accounts", "list", env=env)
    line = error_line(done.stderr)
    assert line.startswith(f"Error: master key passphrase file {passphrase} is readable by ")
    assert f"chmod 600 {passphrase}" in line
    assert "correct horse" not in line
