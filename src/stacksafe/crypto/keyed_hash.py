"""Server-held HMAC-SHA256 keys: the audit hash chain, value fingerprints, token hashes, the
key that seals the server's own settings (crypto.sealed_setting: an SSO client secret), and the
seed of the audit stream's Ed25519 signing key (crypto.stream_signature).

Each is a random 256-bit key wrapped by the master key (associated data names its purpose and
versions), so a copy of the database cannot forge an audit chain, test a guessed value against a
fingerprint, or turn a stored token hash into a token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from stacksafe.crypto.envelope import frame
from stacksafe.crypto.keyring import KEY_SIZE, Keyring

__all__ = [
    "AUDIT_CHAIN",
    "AUDIT_STREAM",
    "FINGERPRINT",
    "PURPOSES",
    "SETTINGS_SEAL",
    "TOKEN_HASH",
    "KeyedHash",
    "rewrap_keyed_hash",
    "unwrap_keyed_hash",
    "wrap_new_keyed_hash",
]

AUDIT_CHAIN = "audit-chain"
FINGERPRINT = "fingerprint"
TOKEN_HASH = "token-hash"  # noqa: S105 - a key purpose, not a credential
# Derives the AES-GCM key of the settings the server keeps sealed (crypto.sealed_setting); a
# key of its own, so that no other purpose's digest is ever an encryption key.
SETTINGS_SEAL = "settings-seal"
# Derives the Ed25519 key that signs the streamed audit lines (crypto.stream_signature): wrapped
# and re-wrapped like the others, so the signing key needs no storage of its own.
AUDIT_STREAM = "audit-stream"
PURPOSES = (AUDIT_CHAIN, FINGERPRINT, TOKEN_HASH, SETTINGS_SEAL, AUDIT_STREAM)


def _aad(purpose: str, version: int, master_key_version: int) -> bytes:
    return frame("stacksafe.server-key.v1", purpose, str(version), str(master_key_version))


class KeyedHash:
    """One server key: ``digest`` is HMAC-SHA256 over length-framed parts."""

    __slots__ = ("_keyed", "purpose", "version")

    def __init__(self, purpose: str, version: int, material: bytes) -> None:
        self.purpose = purpose
        self.version = version
        # Keyed once and copied per digest: keying an HMAC (OpenSSL 3) costs more than hashing
        # a short value, and a reveal fingerprints every value it returns.
        self._keyed = hmac.new(material, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return f"KeyedHash(purpose={self.purpose!r}, version={self.version})"

    def digest(self, *parts: bytes) -> bytes:
        mac = self._keyed.copy()
        for part in parts:
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.digest()

    def matches(self, expected: bytes, *parts: bytes) -> bool:
        return hmac.compare_digest(expected, self.digest(*parts))


def wrap_new_keyed_hash(
    keyring: Keyring, purpose: str, version: int
) -> tuple[KeyedHash, int, bytes]:
    """A fresh key: (key, master-key version, wrapped form)."""
    material = secrets.token_bytes(KEY_SIZE)
    mk_version = keyring.newest.version
    _, wrapped = keyring.wrap(material, _aad(purpose, version, mk_version))
    return KeyedHash(purpose, version, material), mk_version, wrapped


def unwrap_keyed_hash(
    keyring: Keyring, purpose: str, version: int, master_key_version: int, wrapped: bytes
) -> KeyedHash:
    material = keyring.unwrap(
        master_key_version, wrapped, _aad(purpose, version, master_key_version)
    )
    return KeyedHash(purpose, version, material)


def rewrap_keyed_hash(
    keyring: Keyring, purpose: str, version: int, master_key_version: int, wrapped: bytes
) -> bytes:
    """The same key, wrapped under the keyring's newest master key (the caller stores it)."""
    material = keyring.unwrap(
        master_key_version, wrapped, _aad(purpose, version, master_key_version)
    )
    newest = keyring.newest.version
    _, rewrapped = keyring.wrap(material, _aad(purpose, version, newest))
    return rewrapped
