"""`stacksafe secrets history|rollback|undelete|destroy|max-versions`: a key's versions."""

from __future__ import annotations

from typing import Annotated

import typer

from stacksafe.cli.backend import secrets_backend
from stacksafe.cli.common import AccountOption, DataDirOption, StackOption, parse_moment
from stacksafe.cli.output import ListFormat, ListFormatOption, print_json, print_table
from stacksafe.cli.secret_input import IfVersionOption, RevealOption
from stacksafe.errors import InvalidInput
from stacksafe.model import iso8601

__all__ = ["destroy", "history", "max_versions", "rollback", "undelete"]


def history(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    reveal: RevealOption = False,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """Every version of a key at this level, newest first: who, when, what."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        entries = target.history(key, reveal)
    if fmt is ListFormat.json:
        print_json([e.to_json() for e in entries])
        return
    columns = ["VERSION", "ACTION", "AUTHOR", "CREATED", "STATE"] + (["VALUE"] if reveal else [])
    rows = []
    for entry in entries:
        state = "destroyed" if entry.destroyed else ("deleted" if entry.deleted else "")
        row = [
            str(entry.version) + (" *" if entry.current else ""),
            entry.action,
            entry.author,
            iso8601(entry.created_at),
            state or "-",
        ]
        if reveal:
            row.append("-" if entry.raw_value is None else entry.raw_value.reveal())
        rows.append(row)
    print_table(columns, rows)


def rollback(
    key: Annotated[
        str | None, typer.Argument(help="The key; without it, every key of the level (--to).")
    ] = None,
    stack: StackOption = None,
    account: AccountOption = None,
    to_version: Annotated[
        int | None, typer.Option("--to-version", min=1, help="Restore this version of KEY.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Restore every key of the level as it was then (2026-11-20T10:00:00Z)."
        ),
    ] = None,
    if_version: IfVersionOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Restore an earlier value as a new version: one key (--to-version), or a whole stack or
    account to a moment (--to), in one transaction. Nothing is erased."""
    if (key is None) != (to is not None) or (to_version is None) == (to is None):
        raise InvalidInput("give KEY --to-version N, or --to TIME without a key")
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        if key is not None and to_version is not None:
            version = target.rollback(key, to_version, if_version)
            typer.echo(
                f"Rolled {key} on {target.describe()} back to version {to_version}'s value "
                f"(now version {version})"
            )
            return
        if if_version is not None:
            raise InvalidInput("--if-version goes with KEY --to-version")
        report = target.rollback_level(parse_moment(str(to), "--to"))
    typer.echo(f"Rolled {target.describe()} back to {iso8601(report.to)}:")
    restored = " ".join(f"{k}@{v}" for k, v in sorted(report.restored.items()))
    for label, shown in (
        ("restored", restored),
        ("deleted", " ".join(report.deleted)),
        ("unchanged", " ".join(report.unchanged)),
    ):
        typer.echo(f"  {label:<9} {shown}".rstrip())


def undelete(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Restore a deleted key's last value (a new version)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        version = target.undelete(key)
    typer.echo(f"Restored {key} on {target.describe()} (version {version})")


def destroy(
    key: str,
    version: Annotated[int, typer.Option("--version", min=1, help="The version to destroy.")],
    stack: StackOption = None,
    account: AccountOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove one old version's value for good (the current one cannot be destroyed)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        target.destroy(key, version)
    typer.echo(f"Destroyed version {version} of {key} on {target.describe()}")


def max_versions(
    limit: Annotated[
        str | None, typer.Argument(metavar="[N|all]", help="Set it; without, show it.")
    ] = None,
    stack: StackOption = None,
    account: AccountOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """How many versions each secret of a stack or account keeps (never fewer than 2)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        if limit is None:
            current = target.max_versions()
            typer.echo("all" if current is None else str(current))
            return
        if limit.strip().lower() == "all":
            chosen = None
        elif limit.strip().isdigit():
            chosen = int(limit)
        else:
            raise InvalidInput(f"max-versions {limit!r} is not a number or 'all'")
        target.set_max_versions(chosen)
    shown = "all versions" if chosen is None else f"at most {chosen} versions"
    typer.echo(f"Secrets of {target.describe()} keep {shown}")
