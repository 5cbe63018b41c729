"""`stacksafe keys rotate` and `keys status` through the CLI (local, SQLite)."""

from __future__ import annotations

from stacksafe.crypto import keyring_from_file
from tests.cli.helpers import Cli, InProcessCli, error_line

CONFIGURATION = 7


def test_rotate_and_status(seeded: Cli, cli_runner: InProcessCli) -> None:
    run = cli_runner
    run.ok("secrets", "set", "A=alpha", "--stack", "web")
    run.ok("secrets", "set", "B=beta", "--account", "acme")
    before = run.ok("keys", "status").stdout
    assert before.splitlines()[0] == "Master key versions: 1 (newest 1)"
    assert "data keys: 2 under version 1" in before
    key_file = seeded.data_dir / "master.key"
    old_key_file = key_file.read_text()

    done = seeded.ok("keys", "rotate").stdout

    assert done.startswith("Rotated to master key version 2: 5 keys re-wrapped.")
    after = run.ok("keys", "status").stdout
    assert after.splitlines()[0] == "Master key versions: 1, 2 (newest 2)"
    assert "data keys: 2 under version 2" in after
    assert "still wrapped" not in after
    assert keyring_from_file(key_file).versions == [1, 2]
    assert run.revealed("--stack", "web") == {"A": "alpha", "B": "beta"}

    # The key file from before the rotation opens the database (version 1 still checks out)
    # but cannot unwrap keys now under version 2: a clear error, nothing returned.
    key_file.write_text(old_key_file)
    refused = run.invoke("secrets", "get", "A", "--stack", "web", "--plain")
    assert refused.exit_code == CONFIGURATION
    assert "master key version 2" in error_line(refused.stderr)
    assert "alpha" not in refused.stdout + refused.stderr
