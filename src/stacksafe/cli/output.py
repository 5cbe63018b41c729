"""Rendering for humans (tables) and machines (JSON); values are shown only when revealed."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

import typer

from stacksafe.model import Secret, iso8601

__all__ = [
    "MASK",
    "ExportFormat",
    "FileFormat",
    "ListFormat",
    "ListFormatOption",
    "origin_of",
    "print_json",
    "print_table",
    "secret_headers",
    "secret_rows",
]

MASK = "********"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


class FileFormat(StrEnum):
    dotenv = "dotenv"
    json = "json"


class ExportFormat(StrEnum):
    dotenv = "dotenv"
    json = "json"
    yaml = "yaml"
    shell = "shell"
    docker_env = "docker-env"
    k8s = "k8s"


ListFormatOption = Annotated[ListFormat, typer.Option("--format", "-f", help="Output format.")]


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain aligned table; plain text keeps output pipeable and free of terminal codes."""
    cells = [[cell.replace("\n", "\\n") for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    lines = [headers, *cells]
    sys.stdout.write(
        "".join(
            "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n"
            for line in lines
        )
    )


def origin_of(secret: Secret) -> str:
    """Where a listed secret comes from: the account (inherited), the stack alone, or the stack
    overriding an account secret of the same key that it would otherwise inherit."""
    if secret.inherited:
        return "account"
    return "overrides account" if secret.overrides else "stack"


def secret_headers(account_level: bool) -> list[str]:
    """The columns of ``secret_rows``: an account's own list shows who inherits each key."""
    if account_level:
        return ["KEY", "FROM", "VERSION", "ENVIRONMENTS", "UPDATED", "VALUE"]
    return ["KEY", "FROM", "VERSION", "UPDATED", "VALUE"]


def secret_rows(secrets: Sequence[Secret], account_level: bool = False) -> list[list[str]]:
    return [
        [
            s.key,
            origin_of(s),
            str(s.version),
            *([" ".join(s.environments or ()) or "all"] if account_level else []),
            iso8601(s.updated_at),
            MASK if s.raw_value is None else s.raw_value.reveal(),
        ]
        for s in secrets
    ]
