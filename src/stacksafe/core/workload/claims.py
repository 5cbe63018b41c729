"""The claims a role binds: exact values or globs (``*`` matches any run of characters, as in
Vault's ``bound_claims_type=glob``), on a claim named by its key, by a JSON pointer
(``/kubernetes.io/namespace``) or by a dotted path (``kubernetes.io.namespace``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from stacksafe.store.workload import ClaimBinding

__all__ = ["claim_value", "first_mismatch", "glob_matches", "text_claim"]

_MISSING = object()


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """The claim ``name`` (``_MISSING`` when absent): a top-level key first, then a JSON pointer
    when it starts with ``/``, then a path of nested keys whose names may themselves hold dots."""
    if name in claims:
        return claims[name]
    if name.startswith("/"):
        found: Any = claims
        for part in name[1:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(found, Mapping) or part not in found:
                return _MISSING
            found = found[part]
        return found
    return _dotted(claims, name)


def _dotted(found: Mapping[str, Any], rest: str) -> Any:
    parts = rest.split(".")
    # The longest key first: "kubernetes.io.namespace" is {"kubernetes.io": {"namespace": ...}}.
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key in found:
            if cut == len(parts):
                return found[key]
            inner = found[key]
            if isinstance(inner, Mapping):
                value = _dotted(inner, ".".join(parts[cut:]))
                if value is not _MISSING:
                    return value
    return _MISSING


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(piece) for piece in pattern.split("*")), re.DOTALL)


def glob_matches(pattern: str, value: str) -> bool:
    return _glob(pattern).fullmatch(value) is not None


def _matches(binding: ClaimBinding, value: Any) -> bool:
    # A list claim (groups, aud) matches when one of its items does; only strings, numbers and
    # booleans are compared, as their JSON text.
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool):
            text = "true" if item else "false"
        elif isinstance(item, str | int | float):
            text = str(item)
        else:
            continue
        for wanted in binding.values:
            if glob_matches(wanted, text) if binding.glob else text == wanted:
                return True
    return False


def text_claim(claims: Mapping[str, Any], name: str, limit: int = 256) -> str | None:
    """A string claim as an audit event and the database can hold it (at most ``limit``
    characters): None when absent or not text (a NUL or a lone surrogate, which PostgreSQL's
    text and UTF-8 refuse)."""
    value = claims.get(name)
    if not isinstance(value, str) or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value[:limit]


def first_mismatch(claims: Mapping[str, Any], bindings: tuple[ClaimBinding, ...]) -> str | None:
    """The name of the first bound claim ``claims`` does not satisfy (absent or another value),
    or None when every one holds."""
    for binding in bindings:
        value = claim_value(claims, binding.claim)
        if value is _MISSING or not _matches(binding, value):
            return binding.claim
    return None
