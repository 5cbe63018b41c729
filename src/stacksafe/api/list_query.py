"""The query of a secret list or key: its fields and defaults, read from a raw query string.

The routes declare their query to FastAPI (its validation errors, its OpenAPI document);
``read_query`` (a list) and ``read_key_query`` (one key) read the same query straight from the
bytes for the fast path (api.fast_path) when it is plainly valid, and give up (None) on anything
the route would read or word differently.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple
from urllib.parse import parse_qsl

from stacksafe.core.reveal import RevealQuery
from stacksafe.core.secrets import ONE_KEY_PURPOSE
from stacksafe.errors import InvalidInput
from stacksafe.model import PURPOSE_MAX_CHARS, PURPOSE_PATTERN
from stacksafe.paging import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE

__all__ = ["SecretsPage", "read_key_query", "read_query"]

_BOOLS = {"true": True, "1": True, "false": False, "0": False}
_DIGITS = re.compile(r"[1-9][0-9]{0,6}")
_PURPOSE = re.compile(PURPOSE_PATTERN)


class SecretsPage(NamedTuple):
    """The query of a list of secrets (defaults as the route declares them)."""

    reveal: bool = False
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    resolve: bool = True
    purpose: str | None = None

    def reveal_query(self) -> RevealQuery:
        return RevealQuery(reveal=self.reveal, resolve=self.resolve, purpose=self.purpose or "list")


@functools.lru_cache(maxsize=512)  # clients repeat their query
def read_query(query_string: bytes) -> tuple[SecretsPage, RevealQuery] | None:
    """The list query (and what it asks of core.reveal), when every parameter is one the
    route reads, given once, and plainly valid; else None (the route decides, and words any
    error)."""
    given = _given_once(query_string)
    if given is None:
        return None
    flags: dict[str, bool] = {}
    numbers: dict[str, int] = {}
    for name, text in given.items():
        if name in ("reveal", "resolve"):
            flag = _BOOLS.get(text.lower())
            if flag is None:
                return None
            flags[name] = flag
        elif name in ("page", "per_page"):
            if not _DIGITS.fullmatch(text):
                return None
            numbers[name] = int(text)
            if numbers[name] > (MAX_PAGE if name == "page" else MAX_PER_PAGE):
                return None
        elif name != "purpose" or len(text) > PURPOSE_MAX_CHARS or not _PURPOSE.fullmatch(text):
            return None
    default = SecretsPage()
    query = SecretsPage(
        reveal=flags.get("reveal", default.reveal),
        page=numbers.get("page", default.page),
        per_page=numbers.get("per_page", default.per_page),
        resolve=flags.get("resolve", default.resolve),
        purpose=given.get("purpose", default.purpose),
    )
    try:
        return query, query.reveal_query()
    except InvalidInput:
        return None


@functools.lru_cache(maxsize=512)  # clients repeat their query and key
def read_key_query(query_string: bytes, key: str) -> RevealQuery | None:
    """What ``GET .../secrets/{key}`` asks of core.reveal, when every parameter is ``reveal``
    or ``resolve``, given once, a plain boolean, and the key is valid; else None (the route
    decides: ``label``, say, or an invalid key, whose error it words after the token)."""
    given = _given_once(query_string)
    if given is None or not given.keys() <= {"reveal", "resolve"}:
        return None
    flags = {name: _BOOLS.get(text.lower()) for name, text in given.items()}
    reveal, resolve = flags.get("reveal", False), flags.get("resolve", True)
    if reveal is None or resolve is None:
        return None
    try:  # the route reads through core.secrets.get_secret, with its purpose
        return RevealQuery(reveal=reveal, resolve=resolve, purpose=ONE_KEY_PURPOSE, key=key)
    except InvalidInput:
        return None


def _given_once(query_string: bytes) -> dict[str, str] | None:
    """The query's parameters, when it is ASCII and none is given twice; else None."""
    try:
        pairs = parse_qsl(
            query_string.decode("ascii"), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError:
        return None
    given = dict(pairs)
    return given if len(given) == len(pairs) else None
