"""Secrets in and out of files: dotenv (python-dotenv's parser) and flat JSON objects.

Parsing is strict: a line python-dotenv cannot parse, a key without a value, a duplicate key or a
non-string JSON value is an error naming the line or key, so an import never half-succeeds.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from typing import Literal

from dotenv.parser import parse_stream

from stacksafe.core.validation import KEY_PATTERN, MAX_KEY_LENGTH, SHELL_NAME
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = [
    "SOURCING_RUNS",
    "Format",
    "check_sourceable_keys",
    "decode_utf8",
    "detect_format",
    "parse",
    "render",
]

Format = Literal["dotenv", "json"]


def decode_utf8(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{source} is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None


def detect_format(filename: str) -> Format:
    return "json" if filename.lower().endswith(".json") else "dotenv"


def _parse_dotenv(text: str, source: str) -> dict[str, SecretValue]:
    entries: dict[str, SecretValue] = {}
    lines: dict[str, int] = {}
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            raise InvalidInput(f"{source}, line {line}: cannot parse this line as KEY=VALUE")
        if binding.key is None:  # a blank line or a comment
            continue
        if binding.value is None:
            # Not quoting the line: it may be a line of an unquoted multi-line secret.
            raise InvalidInput(
                f"{source}, line {line} has no '=' (are the quotes of a multi-line value missing?)"
            )
        if not KEY_PATTERN.fullmatch(binding.key) or len(binding.key) > MAX_KEY_LENGTH:
            raise InvalidInput(
                f"{source}, line {line}: the key is not valid: use letters and digits, with "
                "single . _ or - between them (are the quotes of a multi-line value missing?)"
            )
        if binding.key in entries:
            raise InvalidInput(
                f"{source}, line {line}: {binding.key!r} is already set on line "
                f"{lines[binding.key]}"
            )
        entries[binding.key] = SecretValue(binding.value)
        lines[binding.key] = line
    return entries


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidInput(f"key {key!r} appears twice in the JSON object")
        result[key] = value
    return result


def _parse_json(text: str, source: str) -> dict[str, SecretValue]:
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
    except InvalidInput as exc:
        raise InvalidInput(f"{source}: {exc.message}") from None
    except json.JSONDecodeError as exc:
        # exc.msg describes the syntax error; it never quotes the document.
        raise InvalidInput(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput(f'{source} must hold a JSON object of KEY: "value" pairs')
    entries: dict[str, SecretValue] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise InvalidInput(
                f"{source}: the value of {key!r} is a JSON {type(value).__name__}, not a string; "
                "quote it"
            )
        entries[key] = SecretValue(value)
    return entries


def parse(text: str, fmt: Format, source: str) -> dict[str, SecretValue]:
    """Key → value of a dotenv or JSON document; ``source`` names it in error messages."""
    if fmt == "json":
        return _parse_json(text, source)
    return _parse_dotenv(text, source)


def _dotenv_quote(value: str) -> str | None:
    """``value`` quoted so that python-dotenv (and so ``parse``) reads back exactly it, and so
    that sh or bash sourcing the line (``set -a; . ./.env``) assigns exactly it and runs nothing;
    None when no quoting does both.

    - Single quotes, the value verbatim: nothing in them is special to sh, and python-dotenv
      unescapes only ``\\\\`` and ``\\'`` there (line breaks kept). So: no ``'`` in the value, no
      ``\\\\`` and no ``\\`` at its end (python-dotenv would take ``\\'`` as a quote).
    - Otherwise double quotes, with ``\\`` and ``"`` escaped (both readers unescape exactly
      those two): unless the value holds ``$`` or a backtick, which sh expands in double quotes
      and python-dotenv would keep escaped.
    """
    if "'" not in value and "\\\\" not in value and not value.endswith("\\"):
        return f"'{value}'"
    if "$" not in value and "`" not in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return None


# Variables whose value a shell that sources the export, or every program it starts later, takes as
# code or as where to find code: the prompt hooks, the startup files of later shells, the command
# search path, word splitting, shell options, and the dynamic loader (any LD_* or DYLD_* name).
SOURCING_RUNS = frozenset(
    {
        "PATH",
        "IFS",
        "ENV",
        "BASH_ENV",
        "CDPATH",
        "PS1",
        "PS2",
        "PS3",
        "PS4",
        "PROMPT_COMMAND",
        "SHELLOPTS",
        "BASHOPTS",
    }
)
_LOADER_PREFIXES = ("LD_", "DYLD_")


def check_sourceable_keys(keys: Iterable[str], fmt: str) -> None:
    """Refuse (``InvalidInput``, naming them) keys a shell sourcing a ``fmt`` export would not
    assign (not variable names: ``A.B=x`` is a command word) or would let run code later."""
    keys = sorted(keys)
    unnamed = [k for k in keys if not SHELL_NAME.fullmatch(k)]
    if unnamed:
        raise InvalidInput(
            f"the {fmt} format cannot carry {', '.join(unnamed)}: not shell variable names "
            "(letters, digits and _, not starting with a digit); use --format json"
        )
    running = [k for k in keys if k in SOURCING_RUNS or k.startswith(_LOADER_PREFIXES)]
    if running:
        raise InvalidInput(
            f"the {fmt} format will not set {', '.join(running)}: a shell sourcing it (and what "
            "that shell starts) would take the value as code or as where to find code; use "
            "--format json"
        )


def _dotenv(values: Mapping[str, SecretValue]) -> str:
    check_sourceable_keys(values, "dotenv")
    lines, unsafe = [], []
    for key in sorted(values):
        quoted = _dotenv_quote(values[key].reveal())
        if quoted is None:
            unsafe.append(key)
        else:
            lines.append(f"{key}={quoted}\n")
    if unsafe:
        # A partial export that looks complete is worse than none (core.exports does the same).
        raise InvalidInput(
            f"the dotenv format cannot carry {', '.join(unsafe)}: a value with a ' (or \\\\, or "
            "a \\ at its end) and also a $ or ` cannot be quoted so that sh runs nothing and "
            "python-dotenv reads it exactly; use --format json, or shell to source it"
        )
    return "".join(lines)


def render(values: Mapping[str, SecretValue], fmt: Format) -> str:
    """A dotenv or JSON document of ``values``, in key order, that ``parse`` reads back exactly.

    dotenv is also safe to source with sh or bash (``_dotenv_quote``); a value it cannot carry
    that way is refused, naming the key (``InvalidInput``)."""
    ordered = sorted(values)
    if fmt == "json":
        return (
            json.dumps({k: values[k].reveal() for k in ordered}, indent=2, ensure_ascii=False)
            + "\n"
        )
    return _dotenv(values)
