"""`stacksafe secrets ...`: set, get, list, unset, restrict and generate one level's secrets;
the app that also holds the versions (versions_cmd) and transfer (transfer_cmd) commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stacksafe.cli.backend import backend, secrets_backend
from stacksafe.cli.common import AccountOption, DataDirOption, StackOption
from stacksafe.cli.environment_names import warn_unknown_environments
from stacksafe.cli.output import (
    ListFormat,
    ListFormatOption,
    print_json,
    print_table,
    secret_headers,
    secret_rows,
)
from stacksafe.cli.secret_input import (
    AllEnvironmentsOption,
    EnvironmentOption,
    IfVersionOption,
    RawOption,
    RevealOption,
    environments_given,
    value_from_sources,
)
from stacksafe.cli.transfer_cmd import copy, diff, export, import_
from stacksafe.cli.versions_cmd import destroy, history, max_versions, rollback, undelete
from stacksafe.core.generate import CHARSETS, MAX_LENGTH  # light: limits --help shows
from stacksafe.core.validation import parse_duration
from stacksafe.errors import BrokenReferences, InvalidInput
from stacksafe.model import list_json

__all__ = ["export", "secrets_app"]

secrets_app = typer.Typer(help="Secrets of an account (inherited by its stacks) or of a stack.")


def set_(
    assignment: Annotated[str, typer.Argument(metavar="KEY[=VALUE]")],
    stack: StackOption = None,
    account: AccountOption = None,
    from_stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the value from stdin (one final newline dropped).")
    ] = False,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Read the value from a file, byte for byte.")
    ] = None,
    if_version: IfVersionOption = None,
    environment: EnvironmentOption = None,
    all_environments: AllEnvironmentsOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Set a secret. Without a value on the command line, asks for it without echoing."""
    key, sep, inline = assignment.partition("=")
    restriction = environments_given(environment, all_environments)
    value = value_from_sources(key, inline if sep else None, from_stdin, from_file)
    with backend(data_dir) as where:
        target = where.secrets(account=account, stack=stack)
        stored = target.set(key, value, if_version, restriction)
        warn_unknown_environments(where, restriction or ())
    typer.echo(f"Set {stored.key} on {target.describe()} (version {stored.version})")


def get(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    reveal: RevealOption = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Print only the plaintext value (implies --reveal).")
    ] = False,
    raw: RawOption = False,
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            help="The level's own version named current, previous or pending (a rotation in "
            "progress), unresolved.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one secret as a JSON object (the effective one, for a stack)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        found = target.get(key, reveal or plain, resolve=not raw, label=label)
    if plain and found.raw_value is not None:
        sys.stdout.write(found.raw_value.reveal() + "\n")
    else:
        print_json(found.to_json())


def list_(
    stack: StackOption = None,
    account: AccountOption = None,
    reveal: RevealOption = False,
    raw: RawOption = False,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """List the effective secrets of a stack (own, inherited, overriding the account's), or an
    account's own with the environments that inherit each. JSON: the API's envelope, the
    secrets in "response" and each key's version and provenance in "meta"."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        found = target.list(reveal, resolve=not raw)
    if fmt is ListFormat.json:
        print_json(list_json(found))
    else:
        account_level = stack is None
        print_table(secret_headers(account_level), secret_rows(found, account_level))
    if reveal and not raw:
        # A revealed list gives a key without its value only when its references are broken
        # (docs/references.md): the others are listed, that one is named and the exit says so.
        BrokenReferences.among(
            {
                s.key: f"{s.key!r} has a broken reference (`secrets get {s.key}` names it)"
                for s in found
                if s.raw_value is None
            }
        )


def unset(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    if_version: IfVersionOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a secret from a stack or an account (its history is kept)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        target.unset(key, if_version)
    typer.echo(f"Unset {key} on {target.describe()}")


def restrict(
    key: str,
    account: AccountOption = None,
    environment: EnvironmentOption = None,
    all_environments: AllEnvironmentsOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Which environments' stacks inherit an account secret: show it, or set it."""
    if account is None:
        raise InvalidInput("environment restrictions belong to account secrets: give --account")
    restriction = environments_given(environment, all_environments)
    with backend(data_dir) as where:
        target = where.secrets(account=account, stack=None)
        found = (
            target.environments(key) if restriction is None else target.restrict(key, restriction)
        )
        warn_unknown_environments(where, restriction or ())
    shown = "every environment" if found is None else ", ".join(found)
    typer.echo(f"{key} on {target.describe()} is inherited by stacks of: {shown}")


def generate(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    length: Annotated[int, typer.Option(min=1, max=MAX_LENGTH, help="Characters.")] = 32,
    charset: Annotated[str, typer.Option(help=f"One of {', '.join(CHARSETS)}.")] = "alnum",
    if_version: IfVersionOption = None,
    rotate_every: Annotated[
        str | None,
        typer.Option(
            "--rotate-every",
            help="Also give KEY a policy: a new value of this kind every period (e.g. 30d), "
            "made by the server's scheduler or `stacksafe rotation run`.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set KEY to a new random value (never printed: reveal it with `secrets get`)."""
    if rotate_every is not None:
        parse_duration(rotate_every)  # a bad period must not leave a value set without policy
    from stacksafe.core.generate import generate_value

    value = generate_value(length, charset)
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        stored = target.set(key, value, if_version)
        if rotate_every is not None:
            config = {"length": length, "charset": charset}
            target.set_rotation(key, rotate_every, None, "generate", config)
    typer.echo(
        f"Set {stored.key} on {target.describe()} to {length} random {charset} characters "
        f"(version {stored.version})"
        + ("" if rotate_every is None else f"; rotated every {rotate_every}")
    )


# In the order `stacksafe secrets --help` has always listed them.
for _name, _command in (
    ("set", set_),
    ("get", get),
    ("list", list_),
    ("unset", unset),
    ("import", import_),
    ("export", export),
    ("history", history),
    ("rollback", rollback),
    ("undelete", undelete),
    ("destroy", destroy),
    ("max-versions", max_versions),
    ("restrict", restrict),
    ("diff", diff),
    ("copy", copy),
    ("generate", generate),
):
    secrets_app.command(_name)(_command)
