"""What every command shares: the --data-dir option, opening the vault, the author of writes."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stacksafe.errors import InvalidInput
from stacksafe.settings import Settings

if TYPE_CHECKING:  # the core is imported when used: remote mode never needs it
    from stacksafe.core.access import Principal
    from stacksafe.core.vault import Vault

__all__ = [
    "AccountOption",
    "DataDirOption",
    "StackOption",
    "local_actor",
    "opened_vault",
    "parse_moment",
]

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="STACKSAFE_DATA_DIR",
        help="Data directory (database and master key). Default: ~/.local/share/stacksafe.",
        show_default=False,
    ),
]
StackOption = Annotated[
    str | None, typer.Option("--stack", "-s", help="Stack uid or name.", show_default=False)
]
AccountOption = Annotated[
    str | None, typer.Option("--account", "-a", help="Account uid or name.", show_default=False)
]


def settings_for(data_dir: Path | None) -> Settings:
    return Settings.load(data_dir=data_dir)


@contextmanager
def opened_vault(data_dir: Path | None) -> Iterator[Vault]:
    from stacksafe.core.vault import open_vault

    vault = open_vault(settings_for(data_dir))
    try:
        yield vault
    finally:
        vault.close()


def local_actor() -> Principal:
    """Whoever runs the CLI on the machine that holds the master key: may do everything.

    Audited under ``local:<os user>``.
    """
    from stacksafe.core.access import Principal

    try:
        name = f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        name = "local:unknown"
    return Principal.local(name)


def parse_moment(text: str, option: str) -> datetime:
    """An ISO 8601 time given to ``option``; it must carry an offset, never guessed."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-11-20T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise InvalidInput(f"give {option} with an offset, e.g. 2026-11-20T10:00:00Z")
    return moment
