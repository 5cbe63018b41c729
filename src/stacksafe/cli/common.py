"""What every command shares: the --data-dir option, opening the installation, who writes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from stacksafe.cli.local import local_actor, opened_installation, settings_for
from stacksafe.errors import InvalidInput

__all__ = [
    "AccountOption",
    "DataDirOption",
    "NarrowEnvironmentsOption",
    "NarrowStacksOption",
    "StackOption",
    "WatchIntervalOption",
    "local_actor",
    "opened_installation",
    "parse_moment",
    "settings_for",
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
# A token's narrowing (tokens create, auth jwt add-role).
NarrowStacksOption = Annotated[
    list[str] | None, typer.Option("--stack", help="Narrow to this stack; repeatable.")
]
NarrowEnvironmentsOption = Annotated[
    list[str] | None,
    typer.Option("--environment", help="Narrow to stacks of this environment; repeatable."),
]
AccountOption = Annotated[
    str | None, typer.Option("--account", "-a", help="Account uid or name.", show_default=False)
]
# `run --watch`, `materialize --watch` (cli.watch): remote mode checks when the server pushes.
WatchIntervalOption = Annotated[
    float,
    typer.Option(
        "--interval",
        min=0.05,
        help="Seconds between checks with --watch while the server does not push changes "
        "(locally: always).",
    ),
]


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
