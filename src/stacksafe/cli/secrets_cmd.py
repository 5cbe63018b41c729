"""`stacksafe secrets ...`: set, get, list, unset, import and export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stacksafe.cli.backend import secrets_backend
from stacksafe.cli.common import AccountOption, DataDirOption, StackOption
from stacksafe.cli.output import (
    FileFormat,
    ListFormat,
    ListFormatOption,
    print_json,
    print_table,
    secret_rows,
)
from stacksafe.core import transfer
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = ["secrets_app"]

secrets_app = typer.Typer(help="Secrets of an account (inherited by its stacks) or of a stack.")

IfVersionOption = Annotated[
    int | None,
    typer.Option(
        "--if-version",
        min=0,
        help="Only if the key is at this version here (0: does not exist yet); else exit 5.",
    ),
]
RevealOption = Annotated[bool, typer.Option("--reveal", help="Include the plaintext raw_value.")]


def _read_bytes(path: str) -> tuple[bytes, str]:
    if path == "-":
        return sys.stdin.buffer.read(), "stdin"
    try:
        return Path(path).read_bytes(), path
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None


def _strip_one_newline(text: str) -> str:
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def _value_from_sources(
    key: str, inline: str | None, from_stdin: bool, from_file: Path | None
) -> SecretValue:
    given = [
        name
        for name, on in (
            ("KEY=VALUE", inline is not None),
            ("--stdin", from_stdin),
            ("--from-file", from_file is not None),
        )
        if on
    ]
    if len(given) > 1:
        raise InvalidInput(f"give the value one way only, not {' and '.join(given)}")
    if inline is not None:
        return SecretValue(inline)
    if from_stdin:
        data, source = _read_bytes("-")
        return SecretValue(_strip_one_newline(transfer.decode_utf8(data, source)))
    if from_file is not None:
        data, source = _read_bytes(str(from_file))
        return SecretValue(transfer.decode_utf8(data, source))
    if not sys.stdin.isatty():
        raise InvalidInput(f"no value for {key!r}: use KEY=VALUE, --stdin or --from-file FILE")
    return SecretValue(typer.prompt(f"Value for {key}", hide_input=True, confirmation_prompt=True))


@secrets_app.command("set")
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
    data_dir: DataDirOption = None,
) -> None:
    """Set a secret. Without a value on the command line, asks for it without echoing."""
    key, sep, inline = assignment.partition("=")
    value = _value_from_sources(key, inline if sep else None, from_stdin, from_file)
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        stored = target.set(key, value, if_version)
    typer.echo(f"Set {stored.key} on {target.describe()} (version {stored.version})")


@secrets_app.command("get")
def get(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    reveal: RevealOption = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Print only the plaintext value (implies --reveal).")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Show one secret as a JSON object (the effective one, for a stack)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        found = target.get(key, reveal or plain)
    if plain and found.raw_value is not None:
        sys.stdout.write(found.raw_value.reveal() + "\n")
    else:
        print_json(found.to_json())


@secrets_app.command("list")
def list_(
    stack: StackOption = None,
    account: AccountOption = None,
    reveal: RevealOption = False,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """List the effective secrets of a stack (own and inherited), or an account's own."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        found = target.list(reveal)
    if fmt is ListFormat.json:
        print_json([s.to_json() for s in found])
    else:
        print_table(["KEY", "FROM", "VERSION", "UPDATED", "VALUE"], secret_rows(found))


@secrets_app.command("unset")
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


@secrets_app.command("import")
def import_(
    path: Annotated[
        str, typer.Argument(metavar="FILE", help="A .env or .json file, or - for stdin.")
    ],
    stack: StackOption = None,
    account: AccountOption = None,
    fmt: Annotated[
        FileFormat | None,
        typer.Option("--format", "-f", help="Default: json for *.json, else dotenv."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set every KEY=VALUE of a file in one transaction: all of them or none."""
    data, source = _read_bytes(path)
    text = transfer.decode_utf8(data, source)
    chosen = transfer.detect_format(path) if fmt is None else fmt.value
    entries = transfer.parse(text, "json" if chosen == "json" else "dotenv", source)
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        report = target.import_(entries)
    typer.echo(f"Imported into {target.describe()}:")
    for label, keys in (
        ("added", report.added),
        ("changed", report.changed),
        ("unchanged", report.unchanged),
    ):
        typer.echo(f"  {label:<9} {len(keys):>4}  {' '.join(keys)}".rstrip())


@secrets_app.command("export")
def export(
    stack: StackOption = None,
    account: AccountOption = None,
    fmt: Annotated[FileFormat, typer.Option("--format", "-f")] = FileFormat.dotenv,
    data_dir: DataDirOption = None,
) -> None:
    """Print the effective secrets, revealed, as dotenv or JSON (for import elsewhere)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        values = target.values("export")
    sys.stdout.write(transfer.render(values, "json" if fmt is FileFormat.json else "dotenv"))
