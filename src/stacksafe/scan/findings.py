"""What a scan reports: where something was found and by which detector, never the text found.

A finding carries a keyed fingerprint of the matched text (see ``fingerprint``) so that a
baseline can accept it, and, for a known value, the keys and levels the value lives under.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

__all__ = [
    "KNOWN_VALUE",
    "Finding",
    "Location",
    "fingerprint",
]

# The rule of the known-value detector; pattern rules have ids of their own (scan.rules).
KNOWN_VALUE = "known-value"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a managed value lives: an account's own level, or one of its stacks, and the key."""

    account: str
    stack: str | None
    key: str

    def sort_key(self) -> tuple[str, str, str]:
        """Accounts, then each account's own level before its stacks, then keys."""
        return (self.account, "" if self.stack is None else "\x00" + self.stack, self.key)

    def describe(self) -> str:
        level = f"account {self.account}" if self.stack is None else f"stack {self.stack}"
        if self.stack is not None:
            level += f" of account {self.account}"
        return f"{self.key} ({level})"

    def to_json(self) -> dict[str, str | None]:
        return {"account": self.account, "stack": self.stack, "key": self.key}


@dataclass(frozen=True, slots=True)
class Finding:
    """One match: ``rule`` (``known-value`` or a pattern's rule id) at ``path:line:column``.

    ``commit`` is set for git history (None: a working-tree file, staged changes or stdin).
    ``locations`` name the keys whose value matched (known values only). ``fingerprint`` is
    the keyed HMAC of (rule, path, matched text): it identifies the finding for a baseline and
    reveals nothing of the text without the key.
    """

    rule: str
    description: str
    path: str
    line: int
    column: int | None
    fingerprint: str
    commit: str | None = None
    locations: tuple[Location, ...] = ()

    @property
    def is_known_value(self) -> bool:
        return self.rule == KNOWN_VALUE

    def sort_key(self) -> tuple[str, str, int, int, str]:
        return (self.commit or "", self.path, self.line, self.column or 0, self.rule)

    def message(self) -> str:
        if self.is_known_value:
            return "managed secret value of " + ", ".join(loc.describe() for loc in self.locations)
        return f"possible secret: {self.description}"

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "rule": self.rule,
            "description": self.description,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "commit": self.commit,
        }
        if self.is_known_value:
            data["secrets"] = [loc.to_json() for loc in self.locations]
        return data


def fingerprint(key: bytes, rule: str, path: str, text: bytes) -> str:
    """HMAC-SHA256 under ``key`` of the rule, the path and the matched text (hex).

    The path is part of it, so one value in two files gives unrelated fingerprints; the key is
    random per baseline, so no table computed in advance applies and two baselines cannot be
    compared. Rules and paths hold no NUL, which keeps the framing unambiguous.
    """
    message = rule.encode() + b"\x00" + path.encode("utf-8", "surrogateescape") + b"\x00" + text
    return hmac.new(key, message, hashlib.sha256).hexdigest()
