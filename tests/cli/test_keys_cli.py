"""`stacksafe keys rotate`, `keys rotate-data-keys` and `keys status` through the CLI.

The console script's ``main()`` runs in this process (``in_this_process``); the installed script
where its exit status and line are the point (a key not found, a wrong passphrase)."""

from __future__ import annotations

from stacksafe.crypto import keyring_from_file
from tests.cli.helpers import Cli, InProcessCli, error_line, seed
from tests.cli.main_in_process import MainInProcess, in_this_process

CONFIGURATION = 7


def test_rotate_and_status(seeded_here: MainInProcess, cli_runner: InProcessCli) -> None:
    run = cli_runner
    run.ok("secrets", "set", "A=alpha", "--stack", "web")
    run.ok("secrets", "set", "B=beta", "--account", "acme")
    before = run.ok("keys", "status").stdout
    assert before.splitlines()[0] == "Master key versions: 1 (newest 1)"
    assert "data keys: 2 under version 1" in before
    key_file = seeded_here.data_dir / "master.key"
    old_key_file = key_file.read_text()

    done = seeded_here.ok("keys", "rotate").stdout

    assert done.startswith("Rotated to master key version 2: 7 keys re-wrapped.")
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


def test_rotate_data_keys(cli_any_db: Cli) -> None:
    """Through the console script, on SQLite and PostgreSQL: values and history read the same,
    every envelope changes, the old data keys are gone, and nothing prints a value."""
    run = cli_any_db.in_process()
    seed(run)
    run.ok("secrets", "set", "A=alpha-1", "--stack", "web")
    run.ok("secrets", "set", "A=alpha-2", "--stack", "web")
    run.ok("secrets", "set", "B=beta", "--account", "acme")
    before_history = run.json(
        "secrets", "history", "A", "--stack", "web", "--reveal", "--format", "json"
    )
    before_values = [e["value"] for e in before_history]

    done = in_this_process(cli_any_db).ok("keys", "rotate-data-keys", "--batch", "1")

    assert done.stdout == (
        "Replaced the data keys of 2 scopes: 3 values re-encrypted, 2 old data keys deleted.\n"
    )
    assert done.stderr == ""  # not a terminal: no progress bar
    after_history = run.json(
        "secrets", "history", "A", "--stack", "web", "--reveal", "--format", "json"
    )
    assert [(e["version"], e["raw_value"]) for e in after_history] == [
        (e["version"], e["raw_value"]) for e in before_history
    ]
    assert all(e["value"] not in before_values for e in after_history)
    assert run.revealed("--stack", "web") == {"A": "alpha-2", "B": "beta"}
    status = run.ok("keys", "status").stdout
    assert "data keys: 2 under version 1" in status
    assert "retired" not in status
    # One stack only; a stack that does not exist is a clear error.
    one = in_this_process(cli_any_db).ok(
        "keys", "rotate-data-keys", "--stack", "web", "--account", "acme"
    )
    assert one.stdout.startswith("Replaced the data keys of 1 scopes: 2 values re-encrypted")
    missing = cli_any_db.fails(3, "keys", "rotate-data-keys", "--stack", "nope")
    assert "stack 'nope' does not exist" in error_line(missing.stderr)
    for output in (done, one, missing):
        assert not any(v in output.stdout + output.stderr for v in ("alpha", "beta"))


def test_a_passphrase_installation_through_the_cli(cli: Cli) -> None:
    """init, write, read with the passphrase; a wrong one and a missing parameters file are
    refused with one clear line; `keys rotate` says why it does not rotate a passphrase."""
    real, cli = cli, in_this_process(cli)
    passphrase = {"STACKSAFE_MASTER_KEY_PASSPHRASE": "tangerine orbit velvet canyon"}
    init = cli.ok("init", env=passphrase).stdout
    params = cli.data_dir / "master.key.params"
    assert f"key params: {params}" in init
    assert not (cli.data_dir / "master.key").exists()
    cli.ok("accounts", "create", "acme", env=passphrase)
    cli.ok("secrets", "set", "A=alpha-value", "--account", "acme", env=passphrase)
    got = cli.ok("secrets", "get", "A", "--account", "acme", "--plain", env=passphrase)
    assert got.stdout == "alpha-value\n"

    wrong = {"STACKSAFE_MASTER_KEY_PASSPHRASE": "tangerine orbit velvet canyons"}
    refused = real.fails(CONFIGURATION, "secrets", "get", "A", "--account", "acme", env=wrong)
    line = error_line(refused.stderr)
    assert "key check value mismatch" in line
    assert "the passphrase is wrong" in line
    assert "canyon" not in line
    assert "alpha" not in refused.stderr
    no_rotate = cli.fails(CONFIGURATION, "keys", "rotate", env=passphrase)
    assert "does not rotate it" in error_line(no_rotate.stderr)
    params.rename(params.with_name("moved"))
    missing = cli.fails(CONFIGURATION, "secrets", "list", "--account", "acme", env=passphrase)
    assert "master.key.params does not exist" in error_line(missing.stderr)
