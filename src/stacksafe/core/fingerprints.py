"""Keyed fingerprints of secret values: equal values, equal fingerprints, and nothing more.

``HMAC-SHA256(fingerprint key, value)``, cut to 16 bytes: an audit event holds at most this of a
value, which answers "was this value read" without making the log a dictionary.
"""

from __future__ import annotations

from collections.abc import Sequence

from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import FINGERPRINT, keyed_hash
from stacksafe.model import Secret, SecretValue

__all__ = ["SEALED_FINGERPRINTS_MAX", "fingerprint", "fingerprints_of_opened"]


def fingerprint(installation: Installation, value: SecretValue) -> str:
    """A keyed fingerprint of a value: equal values give equal fingerprints, and nothing more."""
    return keyed_hash(installation, FINGERPRINT).digest(value.reveal().encode("utf-8"))[:16].hex()


# Fingerprints remembered by seal (a 24-character key), at most this many (about 10 MB).
SEALED_FINGERPRINTS_MAX = 65_536


def fingerprints_of_opened(installation: Installation, opened: Sequence[Secret]) -> dict[str, str]:
    """The fingerprints of the revealed values of secrets just opened, by key.

    Remembered by sealed ``value``: a seal is unique (random nonce), and it opened to exactly
    this plaintext under the associated data of this row, so a sealed value that was read
    before has the fingerprint computed then. A reveal of a whole stack then hashes only the
    values it never revealed before, instead of every value on every request.
    """
    memo = installation.sealed_fingerprints
    hasher = keyed_hash(installation, FINGERPRINT)
    found = {}
    for secret in opened:
        if secret.raw_value is None:
            continue
        # The last 24 base64 characters encode the GCM tag: unique per seal, and a fixed-size
        # key whatever the size of the value, so the memo's memory is bounded by its entries.
        seal = secret.value[-24:]
        known = memo.get(seal)
        if known is None:
            known = hasher.digest(secret.raw_value.reveal().encode("utf-8"))[:16].hex()
            if len(memo) >= SEALED_FINGERPRINTS_MAX:
                memo.clear()  # cheaper than LRU bookkeeping on every hit; refills as read
            memo[seal] = known
        found[secret.key] = known
    return found
