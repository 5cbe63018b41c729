"""`stacksafe backup FILE` and `stacksafe restore FILE`, where the database and master key are."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stacksafe.cli.common import DataDirOption, local_actor, opened_installation, settings_for
from stacksafe.errors import InvalidInput
from stacksafe.settings import ClientSettings

__all__ = ["backup", "restore"]

FileArgument = Annotated[Path, typer.Argument(help="The backup file.", show_default=False)]


def _local_only(command: str) -> None:
    if ClientSettings.load().remote:
        raise InvalidInput(
            f"{command} runs on the server's machine, with its database and master key; "
            "unset STACKSAFE_ADDR"
        )


def _rows(tables: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in tables.items())


def backup(file: FileArgument, data_dir: DataDirOption = None) -> None:
    """Write every table (secrets, history, keys, users, tokens, audit log) from one snapshot
    to a new FILE, compressed and encrypted under the master key. Never overwrites a file."""
    _local_only("backup")
    from stacksafe.core.backup import backup as make_backup

    with opened_installation(data_dir) as installation:
        report = make_backup(installation, local_actor(), file)
    typer.echo(
        f"Backed up {len(report.tables)} tables, {sum(report.tables.values())} rows "
        f"({_rows(report.tables)}) to {file}: {report.bytes} bytes, encrypted.",
        err=True,
    )


def restore(file: FileArgument, data_dir: DataDirOption = None) -> None:
    """Load a backup FILE into an empty database (a new data dir holding the master key file,
    or an empty PostgreSQL): all or nothing, with the master key the backup was made with."""
    _local_only("restore")
    from stacksafe.core.backup import restore as load_backup

    report = load_backup(settings_for(data_dir), local_actor(), file)
    typer.echo(
        f"Restored {sum(report.tables.values())} rows ({_rows(report.tables)}) from a backup "
        f"made at {report.made_at} by stacksafe {report.stacksafe_version}.",
        err=True,
    )
