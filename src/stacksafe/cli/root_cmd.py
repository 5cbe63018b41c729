"""The root `stacksafe` command's own options: --version (completion's are Typer's)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["package_version", "root"]


def package_version() -> str:
    # Imported here: importlib.metadata costs every command's start more than --version needs.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stacksafe")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown"


def _show_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"stacksafe {package_version()}")
        raise typer.Exit()


def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print stacksafe's version and exit.",
        ),
    ] = False,
) -> None:
    """stacksafe: encrypted secrets for accounts and their stacks."""
