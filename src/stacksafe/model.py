"""Plain data objects shared by every layer: accounts, stacks, secrets and masked plaintext."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from stacksafe.errors import InvalidInput

__all__ = [
    "BUILTIN_ENVIRONMENTS",
    "PURPOSE_MAX_CHARS",
    "PURPOSE_PATTERN",
    "Account",
    "Secret",
    "SecretValue",
    "Stack",
    "checked_purpose",
    "iso8601",
    "purpose_of",
]

BUILTIN_ENVIRONMENTS = ("development", "staging", "qa", "production")


class SecretValue:
    """Plaintext of a secret whose ``repr`` and ``str`` are masked; ``reveal()`` gives the text.

    Logging, exception messages and f-strings then cannot leak a value by accident.
    """

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def reveal(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return "SecretValue('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return NotImplemented
        return hmac.compare_digest(self._text.encode(), other._text.encode())

    def __hash__(self) -> int:
        return hash(self._text)

    def __len__(self) -> int:
        return len(self._text)

    def __reduce__(self) -> Any:
        raise TypeError("SecretValue cannot be pickled")


def iso8601(moment: datetime) -> str:
    """Format a moment as the specification does: ``2024-01-15T10:30:00Z`` in UTC."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    # ISO 8601's four-digit year, zero-padded (strftime's %Y is not on every platform), the same
    # text orjson writes for an aware UTC datetime with OPT_UTC_Z | OPT_OMIT_MICROSECONDS.
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031 - the fastest of the forms tried
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )


@dataclass(frozen=True, slots=True)
class Account:
    """A tenant; its secrets are inherited by every one of its stacks."""

    id: int
    uid: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Stack:
    """An application deployment inside an account, in one environment."""

    id: int
    uid: str
    account_id: int
    name: str
    environment: str
    created_at: datetime
    updated_at: datetime


class Secret(NamedTuple):
    """A secret as the specification describes it, with plaintext held masked.

    ``value`` is the encrypted form (``encrypted:AES256:<base64>``); ``raw_value`` is the
    plaintext, present only when the caller asked for it and may see it. A named tuple, not a
    frozen dataclass: a reveal builds one per secret, hundreds per request, and a frozen
    dataclass's ``__init__`` costs four times as much.
    """

    key: str
    value: str
    inherited: bool
    version: int
    created_at: datetime
    updated_at: datetime
    raw_value: SecretValue | None = None

    def to_json(self) -> dict[str, object]:
        """The six fields of the specification, and nothing else."""
        return {
            "key": self.key,
            "value": self.value,
            "raw_value": None if self.raw_value is None else self.raw_value.reveal(),
            "inherited": self.inherited,
            "created_at_iso": iso8601(self.created_at),
            "updated_at_iso": iso8601(self.updated_at),
        }


# A reveal's purpose: what the values are for (e.g. ``run node``), as the client states it,
# written into the reveal's audit event. One definition for every face and for core.reveal.
PURPOSE_MAX_CHARS = 200
PURPOSE_PATTERN = r"^[\x20-\x7e]*$"  # printable ASCII: an audit record stays one plain line
_PURPOSE = re.compile(rf"[\x20-\x7e]{{1,{PURPOSE_MAX_CHARS}}}")


def checked_purpose(purpose: str) -> str:
    """``purpose`` when it is one (1 to 200 printable ASCII characters); else InvalidInput."""
    if _PURPOSE.fullmatch(purpose) is None:
        raise InvalidInput(
            f"a reveal's purpose must be 1 to {PURPOSE_MAX_CHARS} printable ASCII characters"
        )
    return purpose


def purpose_of(description: str) -> str:
    """A purpose describing anything (a command line): characters a purpose cannot hold
    become ``?``, and it is cut to the longest a purpose may be."""
    shown = "".join(c if " " <= c <= "~" else "?" for c in description)[:PURPOSE_MAX_CHARS]
    return shown or "?"
