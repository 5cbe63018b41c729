"""The server-held keys (audit chain, value fingerprints, token hashes, sealed settings, the
audit stream's signing seed) of an installation."""

from __future__ import annotations

from stacksafe.core.installation import Installation
from stacksafe.crypto.keyed_hash import (
    AUDIT_CHAIN,
    AUDIT_STREAM,
    FINGERPRINT,
    SETTINGS_SEAL,
    TOKEN_HASH,
    KeyedHash,
)
from stacksafe.errors import ConfigurationError

__all__ = [
    "AUDIT_CHAIN",
    "AUDIT_STREAM",
    "FINGERPRINT",
    "SETTINGS_SEAL",
    "TOKEN_HASH",
    "keyed_hash",
]


def keyed_hash(installation: Installation, purpose: str) -> KeyedHash:
    """The key of ``purpose``; ``open_installation`` loads (or creates) all of them."""
    try:
        return installation.server_keys[purpose]
    except KeyError:
        raise ConfigurationError(f"the server key {purpose!r} is not loaded") from None
