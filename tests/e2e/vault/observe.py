"""What a client saw, made comparable between two servers (the differential tests' common part).

A script records the answers a client library returned (JSON bodies, error classes, status and
exit codes); ``normalise`` then replaces only what legitimately differs between two servers and
two runs, never what a client could act on:

* timestamps become ``"set"`` (a valid RFC 3339 string or unix time), ``"empty"`` (``""``, the
  KV way of saying "not deleted") or stay ``None``; anything else becomes ``"malformed: ..."``
  so a wrong format still shows up as a difference;
* ``request_id`` and token ``accessor``s become ``"set"``/``"empty"``;
* the path, address and token of the run become ``<path>``, ``<addr>``, ``<token>`` inside
  strings (error messages and URLs name them);
* OpenBao's own metadata extensions (``current_metadata_version``, ``metadata_cas_required``:
  neither Vault nor the stacksafe mapping has them, no client reads them) are dropped.

Everything else (values, versions, ``destroyed``, ``custom_metadata`` null-or-map, warnings,
error texts, status codes) is compared as is.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from tests.e2e.vault.conftest import KvServer

TIME_KEYS = frozenset(
    {
        "created_time",
        "deletion_time",
        "updated_time",
        "issue_time",
        "expire_time",
        "creation_time",
        "server_time_utc",
    }
)
OPAQUE_KEYS = frozenset({"request_id", "accessor"})
# OpenBao-only fields of KV metadata (not in Vault's API nor in vault-kv.md §7.2).
DROPPED_KEYS = frozenset({"current_metadata_version", "metadata_cas_required"})


def moment(value: Any) -> Any:
    """A timestamp reduced to whether it is there; a malformed one stays visible."""
    if value is None:
        return None
    if value == "":
        return "empty"
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return "set"
    if isinstance(value, str):
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return "set"
    return f"malformed: {value!r}"


def opaque(value: Any) -> Any:
    if value is None:
        return None
    if value == "":
        return "empty"
    return "set" if isinstance(value, str) else f"malformed: {value!r}"


class Normaliser:
    """Normalises what one script run saw on one server (its path, address and token)."""

    def __init__(self, server: KvServer, path: str) -> None:
        # Longest first: the address contains no path, but a token could contain anything.
        self._strings = sorted(
            [(path, "<path>"), (server.address, "<addr>"), (server.token, "<token>")],
            key=lambda pair: -len(pair[0]),
        )

    def text(self, value: str) -> str:
        for literal, placeholder in self._strings:
            value = value.replace(literal, placeholder)
        return value

    def __call__(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if key in DROPPED_KEYS:
                    continue
                if key in TIME_KEYS:
                    out[key] = moment(item)
                elif key in OPAQUE_KEYS:
                    out[key] = opaque(item)
                else:
                    out[key] = self(item)
            return out
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def json_type(value: Any) -> str:
    """The JSON type name of ``value`` (for fields whose values legitimately differ)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# lookup-self: the fields every client reads (vault-kv.md §8) and the values that must agree
# whatever the token (a root dev token on OpenBao, a user's token on stacksafe).
LOOKUP_FIELDS = (
    "accessor",
    "creation_time",
    "display_name",
    "explicit_max_ttl",
    "issue_time",
    "meta",
    "num_uses",
    "orphan",
    "path",
    "policies",
    "renewable",
    "ttl",
    "type",
)
LOOKUP_FIXED = {
    "type": "service",
    "renewable": False,
    "orphan": True,
    "num_uses": 0,
    "explicit_max_ttl": 0,
}


def lookup_shape(data: Mapping[str, Any]) -> dict[str, Any]:
    """What of a lookup-self ``data`` must match between the servers."""
    shape: dict[str, Any] = {
        name: json_type(data[name]) if name in data else "missing" for name in LOOKUP_FIELDS
    }
    # OpenBao sends meta null for a token without metadata; stacksafe a map: both are what the
    # clients accept (Go: map[string]string, nil or not).
    if shape["meta"] in ("null", "object"):
        shape["meta"] = "null-or-object"
    # The key must exist (Go clients decode it); null (no expiry) and a time are both valid.
    if "expire_time" not in data:
        shape["expire_time"] = "missing"
    elif moment(data["expire_time"]) in (None, "set"):
        shape["expire_time"] = "null-or-time"
    else:
        shape["expire_time"] = moment(data["expire_time"])
    shape["fixed"] = {name: data.get(name, "missing") for name in LOOKUP_FIXED}
    return shape


def assert_same(reference: Mapping[str, Any], target: Mapping[str, Any]) -> None:
    """``target == reference``, failing with the differing steps side by side (one line each)."""
    lines = []
    for step in [*reference, *(k for k in target if k not in reference)]:
        seen = reference.get(step, "<no such step>"), target.get(step, "<no such step>")
        if seen[0] != seen[1]:
            lines.append(
                f"{step}:\n  openbao:     {json.dumps(seen[0], sort_keys=True)}\n"
                f"  under test:  {json.dumps(seen[1], sort_keys=True)}"
            )
    assert not lines, "the server under test saw something else than OpenBao at:\n" + "\n".join(
        lines
    )
