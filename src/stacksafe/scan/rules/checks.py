"""Format checks of tokens that a regex cannot express: checksums, typed bodies, masks.

GitHub (classic ``gh?_`` tokens) and npm (``npm_``) end their tokens with the CRC32 of the
random part, in six base62 digits: a token whose checksum holds is certainly one of theirs.
Many fixtures, documentation and test suites carry tokens made of random characters with no
valid checksum; those are still reported when they look random, so the checksum makes a match
certain rather than being required.

Fixtures and documents also write values by hand: a counting run (``0123456789``, ``76543210``,
``abcdefghij``) that a generator draws with a chance of about one in a million per 20
characters. ``counting_run`` is the one test of that (placeholders.py's sequences are the
generic rules' own filter of whole-value stand-ins).
"""

from __future__ import annotations

import itertools
import re
import zlib

from stacksafe.scan.entropy import shannon

__all__ = [
    "checksum_or_random",
    "counting_run",
    "crc32_suffix_valid",
    "drawn",
    "masked",
]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT = {c: i for i, c in enumerate(_BASE62)}
# Six in a row: a random body of 20 base62 characters holds one once in about a million.
_RUN = 6
# What stands in for a token's body in documentation and templates: a mask (xxxxx, *****,
# #####, "..."), a template (<token>, ${VAR}, {{ var }}, $(cmd), %(name)s) or a word saying so.
# A typed body of the right length and alphabet is not a mask: it is reported (see
# docs/scanning.md, "Typed tokens").
_MASK = re.compile(
    r"x{5}|X{5}|\*{3}|#{4}|\.{3}|<[^<>]*>|\$\{|\{\{|\$\(|%\(\w+\)|example|placeholder|redacted"
    r"|your[_\-]?(?:api|secret|key|token)|replace[_\-]?me|changeme|dummy",
    re.IGNORECASE,
)


def crc32_suffix_valid(token: str) -> bool:
    """Whether ``token`` (``prefix_`` + body + six base62 digits) ends with the CRC32 of its
    body, as GitHub's classic tokens and npm's tokens do."""
    body, suffix = token[token.index("_") + 1 : -6], token[-6:]
    if not body or any(c not in _DIGIT for c in suffix):
        return False
    value = 0
    for c in suffix:
        value = value * 62 + _DIGIT[c]
    return value == zlib.crc32(body.encode("ascii", "replace"))


def counting_run(secret: str) -> bool:
    """Whether ``secret`` holds six letters or six digits in a row that count up or down
    (``123456``, ``abcdef``, ``FEDCBA``): typed by a person, not drawn by a generator. A run
    across letters and digits (``789abc``) is not a count."""
    up = down = 1
    for before, after in itertools.pairwise(secret):
        step = ord(after) - ord(before)
        same_kind = before.isalnum() and after.isalnum() and before.isdigit() == after.isdigit()
        up = up + 1 if same_kind and step == 1 else 1
        down = down + 1 if same_kind and step == -1 else 1
        if up >= _RUN or down >= _RUN:
            return True
    return False


def masked(secret: str) -> bool:
    """Whether ``secret`` is a mask or template in a token's place (``sk_live_xxxxx``,
    ``hf_<your token>``, ``glpat-${TOKEN}``), not a value anyone could have been issued."""
    return _MASK.search(secret) is not None


def drawn(secret: str) -> bool:
    """Whether an unprefixed value looks drawn rather than written: no counting run, and not a
    word of mixed-case letters (an identifier such as ``searchConfluenceUsingCql``; a random 24
    alphanumerics lacks a digit once in 70, but an issuer's value of hex letters such as
    ``cafebabe`` or of digits only is kept), not one or two characters repeated (``aaaa``,
    ``0000``, ``abab``)."""
    word = secret.isalpha() and not secret.islower() and not secret.isupper()
    return not word and len(set(secret)) > 2 and not counting_run(secret)


def checksum_or_random(token: str) -> bool:
    """A checksummed token is kept whatever it looks like; one without a valid checksum only
    if it looks random enough (entropy; masks are the service policy's, services.py)."""
    return crc32_suffix_valid(token) or shannon(token) >= 3.0
