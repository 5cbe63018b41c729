"""`stacksafe init`: a new installation (database schema and master key)."""

from __future__ import annotations

from typing import Annotated

import typer

from stacksafe.cli.common import DataDirOption, local_actor, settings_for

__all__ = ["init"]


def init(
    data_dir: DataDirOption = None,
    owner_email: Annotated[
        str, typer.Option(help="The server owner, who may do everything.")
    ] = "owner@localhost",
) -> None:
    """Create the database and a master key file (mode 0600). Refuses to overwrite either.

    Also creates the server owner and prints the owner's first API token, once.
    """
    from stacksafe.core.audit import write_genesis
    from stacksafe.core.installation import database_shown, initialise
    from stacksafe.core.principals import bootstrap_owner, create_token

    settings = settings_for(data_dir)
    installation, key_file = initialise(settings)
    try:
        # The log's first event: from now on, a log with no event at all was wiped.
        write_genesis(installation, local_actor())
        bootstrap_owner(installation, owner_email)
        first = create_token(installation, local_actor(), owner_email, scopes=["public", "admin"])
    finally:
        installation.close()
    typer.echo(f"Initialised stacksafe in {settings.data_dir}")
    typer.echo(f"  database:   {database_shown(settings)}")
    if settings.uses_passphrase:
        typer.echo(f"  master key: derived from {settings.master_key_source}")
        typer.echo(f"  key params: {settings.key_params_file} (salt and costs, not secret)")
        typer.echo(
            "Back the parameters file up with the database: without it the passphrase derives "
            "nothing. Keep the passphrase apart from both."
        )
    elif key_file is not None:
        typer.echo(f"  master key: {key_file} (mode 0600)")
        typer.echo(
            "Back the master key up apart from the database: without it no value can be read."
        )
    else:
        typer.echo(f"  master key: {settings.master_key_source}")
    typer.echo(f"Owner {owner_email}: first API token {first.uid} (shown once, keep it safe):")
    typer.echo(f"  {first.token}")
