"""`stacksafe backup FILE` and `stacksafe restore FILE` through the console script.

The installed script makes the backup (the file's mode is its process's) and shows a damaged
file's exit status; the rest runs the script's ``main()`` in this process."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from tests.cli.helpers import Cli, error_line, seed
from tests.cli.main_in_process import in_this_process

BAD_REQUEST, CONFLICT, INTEGRITY, CONFIGURATION = 2, 5, 6, 7
VALUES = ("alpha-value-1", "alpha-value-2", "beta-value")


@pytest.fixture
def restored(cli_any_db: Cli, second_database_url: str, tmp_path: Path) -> Cli:
    """A new data dir holding a copy of the source's master key file, on an empty database."""
    data_dir = tmp_path / "restored"
    data_dir.mkdir(mode=0o700)
    return Cli(data_dir, second_database_url)


def _filled(cli: Cli) -> None:
    run = cli.in_process()
    seed(run)
    run.ok("secrets", "set", f"ALPHA_KEY={VALUES[0]}", "--stack", "web")
    run.ok("secrets", "set", f"ALPHA_KEY={VALUES[1]}", "--stack", "web")
    run.ok("secrets", "set", f"BETA_KEY={VALUES[2]}", "--account", "acme")


def test_backup_then_restore(cli_any_db: Cli, restored: Cli, tmp_path: Path) -> None:
    _filled(cli_any_db)
    source = cli_any_db.in_process()
    history = source.json(
        "secrets", "history", "ALPHA_KEY", "--stack", "web", "--reveal", "--format", "json"
    )
    path = tmp_path / "stacksafe.backup"

    made = cli_any_db.ok("backup", str(path))

    assert made.stdout == ""
    assert made.stderr.startswith("Backed up 27 tables, ")
    assert "encrypted" in made.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    for text in (*VALUES, "ALPHA_KEY", "owner@localhost", "acme"):
        assert text.encode() not in raw
        assert text not in made.stderr
    again = in_this_process(cli_any_db).fails(CONFLICT, "backup", str(path))
    assert "refusing to overwrite" in error_line(again.stderr)

    shutil.copy(cli_any_db.data_dir / "master.key", restored.data_dir / "master.key")
    restoring = in_this_process(restored)
    done = restoring.ok("restore", str(path))

    assert done.stdout == ""
    assert done.stderr.startswith("Restored ")
    target = restored.in_process()
    assert target.revealed("--stack", "web") == {"ALPHA_KEY": VALUES[1], "BETA_KEY": VALUES[2]}
    after = target.json(
        "secrets", "history", "ALPHA_KEY", "--stack", "web", "--reveal", "--format", "json"
    )
    assert [(e["version"], e["raw_value"]) for e in after] == [
        (e["version"], e["raw_value"]) for e in history
    ]
    assert restoring.ok("audit", "verify").stdout.startswith("Audit log intact")
    # A second restore finds the database no longer empty.
    refused = restoring.fails(CONFLICT, "restore", str(path))
    assert "is not empty" in error_line(refused.stderr)


def test_wrong_key_and_damaged_files_create_nothing(cli: Cli, tmp_path: Path) -> None:
    _filled(cli)
    path = tmp_path / "stacksafe.backup"
    in_this_process(cli).ok("backup", str(path))
    real = Cli(tmp_path / "restored")
    target = in_this_process(real)
    target.data_dir.mkdir(mode=0o700)
    target.in_process().ok("init")  # a key of its own; the database then moved away
    for name in ("stacksafe.db", "stacksafe.db-wal", "stacksafe.db-shm"):
        (target.data_dir / name).unlink(missing_ok=True)

    wrong = target.fails(CONFIGURATION, "restore", str(path))
    assert "not the one this backup was made with" in error_line(wrong.stderr)

    shutil.copy(cli.data_dir / "master.key", target.data_dir / "master.key")
    damaged = tmp_path / "damaged.backup"
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0x01
    damaged.write_bytes(bytes(raw))
    bad = real.fails(INTEGRITY, "restore", str(damaged))
    assert "failed authentication" in error_line(bad.stderr)
    damaged.write_bytes(path.read_bytes()[:-30])
    cut = target.fails(INTEGRITY, "restore", str(damaged))
    assert "truncated" in error_line(cut.stderr)
    missing = target.fails(CONFIGURATION, "restore", str(tmp_path / "nope"))
    assert "does not exist" in error_line(missing.stderr)
    assert not (target.data_dir / "stacksafe.db").exists()


def test_remote_mode_is_refused(cli_here: Cli, tmp_path: Path) -> None:
    env = {"STACKSAFE_ADDR": "http://127.0.0.1:9", "STACKSAFE_TOKEN": "x"}
    for command in ("backup", "restore"):
        refused = cli_here.fails(BAD_REQUEST, command, str(tmp_path / "file"), env=env)
        assert "unset STACKSAFE_ADDR" in error_line(refused.stderr)
    assert not (tmp_path / "file").exists()
