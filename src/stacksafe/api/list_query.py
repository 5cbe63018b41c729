"""The query of a secret list: its fields and defaults, and reading it from a raw query string.

The list route declares the query to FastAPI (its validation errors, its OpenAPI document);
``read_query`` reads the same query straight from the bytes for the fast path (api.fast_path)
when it is plainly valid, and gives up (None) on anything the route would word differently.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple
from urllib.parse import parse_qsl

from stacksafe.core.reveal import RevealQuery
from stacksafe.errors import InvalidInput
from stacksafe.model import PURPOSE_MAX_CHARS, PURPOSE_PATTERN
from stacksafe.paging import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE

__all__ = ["SecretsPage", "read_query"]

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
    try:
        pairs = parse_qsl(
            query_string.decode("ascii"), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError:
        return None
    given = dict(pairs)
    if len(given) != len(pairs):
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
