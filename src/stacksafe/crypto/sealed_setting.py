"""A setting of the server's own that is a credential (an SSO client secret), sealed at rest.

AES-256-GCM under a key derived from the ``settings-seal`` server key (crypto.keyed_hash): that
key is random, wrapped by the master key and re-wrapped by ``keys rotate`` like the other server
keys, so a sealed setting needs no key management of its own and a copy of the database without
the master key cannot open it. The associated data names the setting, so a sealed value copied
to another setting fails to open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stacksafe.crypto.envelope import frame
from stacksafe.crypto.keyed_hash import SETTINGS_SEAL, KeyedHash
from stacksafe.errors import IntegrityError

__all__ = ["open_setting", "seal_setting"]

_FORMAT = b"\x01"  # the sealed form's version: the nonce and ciphertext follow
_NONCE = 12
_TAG = 16
_LABEL = b"stacksafe.sealed-setting.v1"


def _aead(key: KeyedHash) -> AESGCM:
    if key.purpose != SETTINGS_SEAL:
        raise ValueError(f"settings are sealed with the {SETTINGS_SEAL!r} key, not {key.purpose!r}")
    # HMAC of a fixed label under a random 256-bit key: a pseudo-random 256-bit AES key.
    return AESGCM(key.digest(_LABEL))


def seal_setting(key: KeyedHash, name: str, plaintext: bytes) -> bytes:
    """``plaintext`` sealed for the setting ``name``."""
    nonce = os.urandom(_NONCE)
    aad = _FORMAT + frame(name, str(key.version))
    return _FORMAT + nonce + _aead(key).encrypt(nonce, plaintext, aad)


def open_setting(key: KeyedHash, name: str, sealed: bytes) -> bytes:
    """The plaintext of a sealed setting; ``IntegrityError`` if it was altered or moved."""
    if len(sealed) < 1 + _NONCE + _TAG or sealed[:1] != _FORMAT:
        raise IntegrityError(f"the sealed setting {name!r} is truncated or of an unknown format")
    aad = _FORMAT + frame(name, str(key.version))
    try:
        return _aead(key).decrypt(sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :], aad)
    except InvalidTag:
        raise IntegrityError(
            f"the sealed setting {name!r} failed authentication: it was altered or moved"
        ) from None
