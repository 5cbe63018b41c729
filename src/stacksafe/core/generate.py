"""Generated values: `stacksafe secrets generate`, and Cloud66's ``AUTO_GENERATE`` values.

Every character is drawn with ``secrets.choice`` (the operating system's CSPRNG), uniformly from
the chosen alphabet, so a value of n characters from an alphabet of size k carries n·log2(k) bits.
"""

from __future__ import annotations

import re
import secrets
import string

from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = [
    "AUTO_GENERATE_LENGTH",
    "CHARSETS",
    "MAX_LENGTH",
    "auto_generated",
    "generate_value",
]

CHARSETS = {
    "alnum": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "base64url": string.ascii_letters + string.digits + "-_",
    # Printable ASCII without space, quotes, backslash, backtick and $: safe unquoted in most
    # shells and config formats. Without $ no generated value holds "${", so none is ever read
    # as a reference or an escape (core.references): it reads back exactly as generated.
    "symbols": string.ascii_letters + string.digits + "!#%&()*+,-./:;<=>?@[]^_{|}~",
}
MAX_LENGTH = 4096
AUTO_GENERATE_LENGTH = 10  # Cloud66's default
_AUTO = re.compile(r"AUTO_GENERATE(?:_([0-9]{1,5}))?")


def generate_value(length: int = 32, charset: str = "alnum") -> SecretValue:
    alphabet = CHARSETS.get(charset)
    if alphabet is None:
        raise InvalidInput(f"charset {charset!r} is not one of {', '.join(CHARSETS)}")
    if not 1 <= length <= MAX_LENGTH:
        raise InvalidInput(f"length must be between 1 and {MAX_LENGTH}")
    return SecretValue("".join(secrets.choice(alphabet) for _ in range(length)))


def auto_generated(value: SecretValue) -> SecretValue | None:
    """A random value for ``AUTO_GENERATE`` (10 characters) or ``AUTO_GENERATE_<n>``, as
    Cloud66 does; None for any other value."""
    match = _AUTO.fullmatch(value.reveal())
    if match is None:
        return None
    length = AUTO_GENERATE_LENGTH if match.group(1) is None else int(match.group(1))
    return generate_value(length, "alnum")
