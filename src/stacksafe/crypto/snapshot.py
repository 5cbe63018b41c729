"""Offline snapshots: a set of values sealed for one client (AES-256-GCM), keyed by its API token
(HKDF-SHA256: the token is already 256 bits of randomness) or by a passphrase (Argon2id).

The header (format, KDF, salt, costs, creation time) is authenticated with the ciphertext, along
with a context naming the server and stack the snapshot is for, so a snapshot cannot pass for
another stack's or be altered without the open failing.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from stacksafe.crypto.passphrase import KdfParams, derive_master_key, new_kdf_params
from stacksafe.errors import IntegrityError

__all__ = ["open_snapshot", "seal_snapshot"]

_FORMAT = "stacksafe offline snapshot v1"
_INFO = b"stacksafe offline snapshot v1"
_NONCE = 12


def _key(kind: str, secret: str, header: dict[str, Any]) -> bytes:
    salt = base64.b64decode(header["salt"])
    if kind == "token":
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO)
        return hkdf.derive(secret.encode("utf-8"))
    costs = [int(header[name]) for name in ("iterations", "lanes", "memory_kib")]
    # A damaged or hostile file must not make the open take minutes or gigabytes.
    if not (1 <= costs[0] <= 10 and 1 <= costs[1] <= 64 and 8 * costs[1] <= costs[2] <= 1 << 20):
        raise ValueError("costs out of bounds")
    params = KdfParams(salt, *costs)
    return derive_master_key(secret, params, "the offline snapshot passphrase").material


def seal_snapshot(payload: bytes, kind: str, secret: str, context: bytes, created_at: str) -> bytes:
    """``payload`` sealed under a key from ``secret`` (``kind``: token or passphrase)."""
    params = new_kdf_params()
    header: dict[str, Any] = {
        "format": _FORMAT,
        "kdf": "hkdf-sha256" if kind == "token" else "argon2id",
        "salt": base64.b64encode(params.salt).decode("ascii"),
        "created_at": created_at,
    }
    if kind != "token":
        header.update(
            iterations=params.iterations, lanes=params.lanes, memory_kib=params.memory_kib
        )
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(_key(kind, secret, header)).encrypt(nonce, payload, header_bytes + context)
    return header_bytes + b"\n" + base64.b64encode(nonce + sealed) + b"\n"


def open_snapshot(blob: bytes, secret: str, context: bytes) -> tuple[bytes, str]:
    """(payload, created_at) of a snapshot; ``IntegrityError`` if it is not one, was altered,
    is for another server or stack, or ``secret`` is not the one it was sealed with."""
    try:
        header_bytes, body = blob.rstrip(b"\n").split(b"\n", 1)
        header = json.loads(header_bytes)
        if header.get("format") != _FORMAT or header.get("kdf") not in ("hkdf-sha256", "argon2id"):
            raise ValueError(header.get("format"))
        raw = base64.b64decode(body, validate=True)
        kind = "token" if header["kdf"] == "hkdf-sha256" else "passphrase"
        key = _key(kind, secret, header)
        payload = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], header_bytes + context)
    except (ValueError, KeyError, TypeError, binascii.Error, InvalidTag):
        raise IntegrityError(
            "the offline snapshot cannot be opened: it is damaged, for another server or "
            "stack, or sealed with another token or passphrase"
        ) from None
    return payload, str(header["created_at"])
