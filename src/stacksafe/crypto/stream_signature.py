"""Ed25519 signatures of the streamed audit lines, so that a receiver holding no secret proves
each line unaltered with the installation's public key (``stacksafe audit sinks public-key``).

The private key is derived from the ``audit-stream`` server key (crypto.keyed_hash: random,
wrapped by the master key, re-wrapped by ``keys rotate``): it needs no storage of its own, and
the same installation signs with the same key on every server. What is signed is
``signed_message``: a label, the event's canonical bytes (the ones its chain hash covers), its
previous hash and its hash in hex, joined by newlines (canonical JSON is ASCII and escapes every
control character, so the parts cannot run into each other).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from stacksafe.crypto.keyed_hash import AUDIT_STREAM, KeyedHash

__all__ = ["LABEL", "StreamSigner", "StreamVerifier", "signed_message"]

LABEL = b"stacksafe.audit-line.v1"
_SEED_LABEL = b"stacksafe.audit-stream.ed25519.v1"


def signed_message(canonical: bytes, prev_hash: bytes, hash_: bytes) -> bytes:
    return b"\n".join((LABEL, canonical, prev_hash.hex().encode(), hash_.hex().encode()))


class StreamSigner:
    """Signs lines with the installation's stream key."""

    __slots__ = ("_key",)

    def __init__(self, key: KeyedHash) -> None:
        if key.purpose != AUDIT_STREAM:
            raise ValueError(f"stream lines are signed with the {AUDIT_STREAM!r} key")
        # HMAC of a fixed label under a random 256-bit key: a pseudo-random 32-byte seed.
        self._key = Ed25519PrivateKey.from_private_bytes(key.digest(_SEED_LABEL))

    def __repr__(self) -> str:
        return "StreamSigner(<private>)"

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def verifier(self) -> StreamVerifier:
        return StreamVerifier(self._key.public_key())

    def public_pem(self) -> str:
        return self.verifier().pem()


class StreamVerifier:
    """Checks lines against a public key (the installation's, or a PEM a receiver was given)."""

    __slots__ = ("_public",)

    def __init__(self, public: Ed25519PublicKey) -> None:
        self._public = public

    @classmethod
    def from_pem(cls, pem: bytes) -> StreamVerifier:
        """``ValueError`` naming the problem when ``pem`` is not an Ed25519 public key."""
        try:
            public = load_pem_public_key(pem)
        except (ValueError, TypeError):
            raise ValueError("not a PEM public key") from None
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return cls(public)

    def pem(self) -> str:
        return self._public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._public.verify(signature, message)
        except InvalidSignature:
            return False
        return True
