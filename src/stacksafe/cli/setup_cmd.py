"""`stacksafe init`: a new installation (database schema and master key)."""

from __future__ import annotations

import typer

from stacksafe.cli.common import DataDirOption, settings_for
from stacksafe.core.vault import initialise
from stacksafe.store import redact_url

__all__ = ["init"]


def init(data_dir: DataDirOption = None) -> None:
    """Create the database and a master key file (mode 0600). Refuses to overwrite either."""
    settings = settings_for(data_dir)
    vault, key_file = initialise(settings)
    vault.close()
    typer.echo(f"Initialised stacksafe in {settings.data_dir}")
    typer.echo(f"  database:   {redact_url(settings.database_url)}")
    if key_file is not None:
        typer.echo(f"  master key: {key_file} (mode 0600)")
        typer.echo(
            "Back the master key up apart from the database: without it no value can be read."
        )
    else:
        typer.echo(f"  master key: {settings.master_key_source}")
