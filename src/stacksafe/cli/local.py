"""Local mode's plumbing without Typer: settings, the installation, the local operator.

Kept apart from cli/common.py (Typer option types) so `stacksafe run` can start without importing
Typer, and the core is imported only when a local command needs it.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from stacksafe.cli import collector
from stacksafe.settings import Settings

if TYPE_CHECKING:
    from stacksafe.core.access import Principal
    from stacksafe.core.installation import Installation

__all__ = ["local_actor", "opened_installation", "server_side", "settings_for"]


def settings_for(data_dir: Path | None) -> Settings:
    return Settings.load(data_dir=data_dir)


@contextmanager
def opened_installation(data_dir: Path | None) -> Iterator[Installation]:
    from stacksafe.core.installation import open_installation

    installation = open_installation(settings_for(data_dir))
    collector.started()
    try:
        yield installation
    finally:
        installation.close()


@contextmanager
def server_side(data_dir: Path | None, command: str = "auth jwt") -> Iterator[Installation]:
    """The installation, for a command only the server's machine runs (the owner's
    configuration: `auth jwt`, `audit sinks`); refused in remote mode."""
    from stacksafe.errors import InvalidInput
    from stacksafe.settings import ClientSettings

    if ClientSettings.load().remote:
        raise InvalidInput(f"{command} runs on the server's machine; unset STACKSAFE_ADDR")
    with opened_installation(data_dir) as installation:
        yield installation


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
