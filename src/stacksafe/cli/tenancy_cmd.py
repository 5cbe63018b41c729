"""`stacksafe accounts ...` and `stacksafe stacks ...`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from stacksafe.cli.backend import backend
from stacksafe.cli.common import AccountOption, DataDirOption
from stacksafe.cli.environment_names import environments_in_use, warn_unknown_environments
from stacksafe.cli.output import ListFormat, ListFormatOption, print_json, print_table
from stacksafe.model import BUILTIN_ENVIRONMENTS, Tombstone, iso8601

if TYPE_CHECKING:
    from stacksafe.client import DeletedHistory

__all__ = ["accounts_app", "stacks_app"]

accounts_app = typer.Typer(help="Accounts: their secrets are inherited by all their stacks.")
stacks_app = typer.Typer(help="Stacks: applications in an account, one environment each.")


@accounts_app.command("create")
def accounts_create(name: str, data_dir: DataDirOption = None) -> None:
    """Create an account (the server owner only)."""
    with backend(data_dir) as where:
        account = where.create_account(name)
    typer.echo(f"Created account {account.name!r} (uid {account.uid})")


@accounts_app.command("list")
def accounts_list(data_dir: DataDirOption = None, fmt: ListFormatOption = ListFormat.table) -> None:
    """List accounts."""
    with backend(data_dir) as where:
        rows = [
            {
                "uid": a.uid,
                "name": a.name,
                "created_at_iso": iso8601(a.created_at),
                "updated_at_iso": iso8601(a.updated_at),
            }
            for a in where.accounts()
        ]
    if fmt is ListFormat.json:
        print_json(rows)
    else:
        print_table(
            ["NAME", "UID", "CREATED"],
            [[str(a["name"]), str(a["uid"]), str(a["created_at_iso"])] for a in rows],
        )


ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Destroy the values it holds (current and history, each audited) and delete it; "
        "without it a delete is refused while any value is held.",
    ),
]


@accounts_app.command("delete")
def accounts_delete(name: str, force: ForceOption = False, data_dir: DataDirOption = None) -> None:
    """Delete an account and all its stacks (the server owner only)."""
    with backend(data_dir) as where:
        deleted = where.delete_account(name, force)
    stacks = f" with {len(deleted.stacks)} stack(s)" if deleted.stacks else ""
    typer.echo(f"Deleted account {deleted.account_name!r}{stacks}{_destroyed(deleted.destroyed)}")


def _destroyed(destroyed: Mapping[str, Sequence[int]]) -> str:
    if not destroyed:
        return ""
    versions = sum(len(v) for v in destroyed.values())
    return f"; destroyed {versions} value(s) of {len(destroyed)} key(s) first"


@stacks_app.command("create")
def stacks_create(
    name: str,
    account: Annotated[str, typer.Option("--account", "-a", help="Account uid or name.")],
    environment: Annotated[
        str,
        typer.Option(
            "--environment", "-e", help="development, staging, qa, production, or your own."
        ),
    ] = "development",
    data_dir: DataDirOption = None,
) -> None:
    """Create a stack in an account."""
    with backend(data_dir) as where:
        in_use = environments_in_use(where) if environment not in BUILTIN_ENVIRONMENTS else ()
        stack = where.create_stack(name, account, environment)
        warn_unknown_environments(where, [environment], in_use)
    typer.echo(f"Created stack {stack.name!r} ({stack.environment}, uid {stack.uid})")


@stacks_app.command("delete")
def stacks_delete(
    name: str,
    account: AccountOption = None,
    force: ForceOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a stack (who may manage its account's stacks)."""
    with backend(data_dir) as where:
        deleted = where.delete_stack(name, account, force)
    typer.echo(
        f"Deleted stack {deleted.stack_name!r} of account {deleted.account_name!r}"
        + _destroyed(deleted.destroyed)
    )


@stacks_app.command("list")
def stacks_list(
    account: AccountOption = None,
    data_dir: DataDirOption = None,
    fmt: ListFormatOption = ListFormat.table,
) -> None:
    """List stacks, of one account or of all."""
    with backend(data_dir) as where:
        rows = [
            {
                "uid": s.uid,
                "name": s.name,
                "environment": s.environment,
                "account": s.account_name,
                "created_at_iso": iso8601(s.created_at),
                "updated_at_iso": iso8601(s.updated_at),
            }
            for s in where.stacks(account)
        ]
    if fmt is ListFormat.json:
        print_json(rows)
    else:
        print_table(
            ["ACCOUNT", "NAME", "ENVIRONMENT", "UID"],
            [
                [str(s["account"]), str(s["name"]), str(s["environment"]), str(s["uid"])]
                for s in rows
            ],
        )


UidArgument = Annotated[
    str | None,
    typer.Argument(help="A deleted one's uid: every version row kept of its secrets."),
]


@stacks_app.command("deleted")
def stacks_deleted(
    uid: UidArgument = None,
    account: AccountOption = None,
    data_dir: DataDirOption = None,
    fmt: ListFormatOption = ListFormat.table,
) -> None:
    """Deleted stacks (their history rows stay, marked; no value): of --account (who may
    manage its stacks), or all (the server owner); with a UID, that stack's history."""
    with backend(data_dir) as where:
        if uid is not None:
            _print_history(where.deleted_history(uid), fmt)
            return
        found = [t for t in where.deleted(account) if t.kind == "stack"]
    _print_tombstones(found, fmt)


@accounts_app.command("deleted")
def accounts_deleted(
    uid: UidArgument = None,
    data_dir: DataDirOption = None,
    fmt: ListFormatOption = ListFormat.table,
) -> None:
    """Deleted accounts (the server owner; their history rows stay, marked; no value); with a
    UID, the history of that account's own secrets (its stacks': `stacks deleted UID`)."""
    with backend(data_dir) as where:
        if uid is not None:
            _print_history(where.deleted_history(uid), fmt)
            return
        found = [t for t in where.deleted(None) if t.kind == "account"]
    _print_tombstones(found, fmt)


def _print_tombstones(found: Sequence[Tombstone], fmt: ListFormat) -> None:
    if fmt is ListFormat.json:
        print_json([t.to_json() for t in found])
        return
    print_table(
        ["NAME", "UID", "ACCOUNT", "ENVIRONMENT", "DELETED", "KEYS", "VERSIONS"],
        [
            [
                t.name,
                t.uid,
                t.account_name + (" (deleted)" if t.account_deleted and t.kind == "stack" else ""),
                t.environment or "-",
                iso8601(t.deleted_at),
                str(t.keys),
                str(t.versions),
            ]
            for t in found
        ],
    )


def _print_history(history: DeletedHistory, fmt: ListFormat) -> None:
    level = history.level
    if fmt is ListFormat.json:
        print_json({"level": level.to_json(), "versions": [v.to_json() for v in history.versions]})
        return
    where = "" if level.kind == "account" else f" of account {level.account_name!r}"
    typer.echo(
        f"{level.kind.capitalize()} {level.name!r}{where} (uid {level.uid}), deleted "
        f"{iso8601(level.deleted_at)}: {level.keys} key(s), {level.versions} version row(s) "
        "kept, no value"
    )
    print_table(
        ["KEY", "VERSION", "ACTION", "AUTHOR", "CREATED", "DESTROYED"],
        [
            [
                v.key,
                str(v.version),
                v.action,
                v.author,
                iso8601(v.created_at),
                "-" if v.destroyed_at is None else iso8601(v.destroyed_at),
            ]
            for v in history.versions
        ],
    )
