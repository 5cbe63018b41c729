"""Input rules for keys, values and names; each failure is one line naming the problem."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_MOMENT",
    "MAX_NAME_LENGTH",
    "MIN_MOMENT",
    "SHELL_NAME",
    "parse_duration",
    "unstorable",
    "validate_environment",
    "validate_key",
    "validate_moment",
    "validate_name",
    "validate_value",
]

MAX_KEY_LENGTH = 255
MAX_NAME_LENGTH = 255
KEY_PATTERN = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
# A POSIX shell variable name: what `run` can put in an environment and what a sourced export may
# assign (anything else becomes a command word: `A.B=x` runs a command named `A.B=x`).
SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ENVIRONMENT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _shown(text: str) -> str:
    """A key or name as it may appear in a message: quoted, shortened when long."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def validate_key(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"key {_shown(key)} is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}"
        )
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            f"key {_shown(key)} is not valid: use letters and digits, "
            "with single . _ or - between them"
        )
    return key


def validate_value(key: str, value: SecretValue, max_bytes: int) -> SecretValue:
    size = len(value.reveal().encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InvalidInput(
            f"value of {_shown(key)} is {size} bytes; the limit is {max_bytes} bytes"
        )
    text = value.reveal()
    if "\x00" in text:
        raise InvalidInput(
            f"value of {_shown(key)} contains a NUL character, which environment variables "
            "and files cannot carry"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"value of {_shown(key)} is not valid UTF-8 text") from None
    return value


def validate_name(kind: str, name: str) -> str:
    if not name.strip():
        raise InvalidInput(f"{kind} name must not be empty")
    if name != name.strip():
        raise InvalidInput(f"{kind} name {_shown(name)} must not start or end with spaces")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{kind} name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}")
    if _CONTROL.search(name):
        raise InvalidInput(f"{kind} name {_shown(name)} contains control characters")
    return name


def validate_environment(environment: str) -> str:
    if not ENVIRONMENT_PATTERN.fullmatch(environment):
        raise InvalidInput(
            f"environment {_shown(environment)} is not valid: use up to 64 letters, digits, "
            ". _ or - (built-ins: development, staging, qa, production)"
        )
    return environment


_DURATION = re.compile(r"([0-9]{1,6})([smhdw])")
MAX_DURATION = timedelta(days=36_525)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, name: str | None = None) -> timedelta:
    """``30d``, ``12h``, ``90m``...: a number and one of s, m, h, d, w; at most
    ``MAX_DURATION``, so adding it to a moment within ``MAX_MOMENT`` cannot overflow. ``name``:
    the field it was given as, named in the error."""
    field = "" if name is None else f"{name}: "
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(
            f"{field}duration {_shown(text)} is not valid: use a positive number and s, m, h, "
            "d or w (e.g. 30d)"
        )
    duration = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if duration > MAX_DURATION:
        raise InvalidInput(f"{field}duration {_shown(text)} is longer than 100 years")
    return duration


# The moments users give (an expiry) are kept between these, in UTC: datetime ends at year
# 9999, and the code adds durations of up to MAX_DURATION (100 years) to stored moments, so
# anything later could overflow (a 500) in arithmetic or when converted to UTC for storing.
MIN_MOMENT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_MOMENT = datetime(9000, 1, 1, tzinfo=UTC)


def validate_moment(moment: datetime, name: str) -> datetime:
    """``moment`` (given as ``name``) in UTC, once it has an offset and lies between
    ``MIN_MOMENT`` and ``MAX_MOMENT``; else ``InvalidInput`` naming the field."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{name} needs a time zone (e.g. 2027-01-31T00:00:00Z)")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
        utc = None
    if utc is None or not MIN_MOMENT <= utc < MAX_MOMENT:
        raise InvalidInput(
            f"{name} must lie between {MIN_MOMENT.year} and {MAX_MOMENT.year} (UTC), "
            "e.g. 2027-01-31T00:00:00Z"
        )
    return utc


def unstorable(text: str) -> bool:
    """Whether ``text`` cannot be a stored name, uid or email at all: a NUL (PostgreSQL text
    cannot hold one) or a lone surrogate (no UTF-8 encoding: what a command-line argument of
    invalid bytes becomes). A lookup of it finds nothing, without asking the database."""
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
