"""What the secrets commands share: their options, and reading a value or a file given to them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = [
    "AllEnvironmentsOption",
    "EnvironmentOption",
    "IfVersionOption",
    "RawOption",
    "RevealOption",
    "environments_given",
    "read_bytes",
    "value_from_sources",
]

IfVersionOption = Annotated[
    int | None,
    typer.Option(
        "--if-version",
        min=0,
        help="Only if the key is at this version here (0: does not exist yet); else exit 5.",
    ),
]
RevealOption = Annotated[bool, typer.Option("--reveal", help="Include the plaintext raw_value.")]
RawOption = Annotated[
    bool, typer.Option("--raw", help="Show ${KEY} references as stored, unresolved.")
]
EnvironmentOption = Annotated[
    list[str] | None,
    typer.Option(
        "--environment",
        "-e",
        help="Account secrets: only stacks of this environment inherit it; repeatable.",
    ),
]
AllEnvironmentsOption = Annotated[
    bool,
    typer.Option("--all-environments", help="Account secrets: lift an environment restriction."),
]


def environments_given(environment: list[str] | None, all_environments: bool) -> list[str] | None:
    if environment and all_environments:
        raise InvalidInput("give --environment or --all-environments, not both")
    if all_environments:
        return []
    return environment or None


def read_bytes(path: str) -> tuple[bytes, str]:
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


def value_from_sources(
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
    from stacksafe.core import transfer

    if from_stdin:
        data, source = read_bytes("-")
        return SecretValue(_strip_one_newline(transfer.decode_utf8(data, source)))
    if from_file is not None:
        data, source = read_bytes(str(from_file))
        return SecretValue(transfer.decode_utf8(data, source))
    if not sys.stdin.isatty():
        raise InvalidInput(f"no value for {key!r}: use KEY=VALUE, --stdin or --from-file FILE")
    return SecretValue(typer.prompt(f"Value for {key}", hide_input=True, confirmation_prompt=True))
