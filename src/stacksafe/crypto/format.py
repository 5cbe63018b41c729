"""The stored value format: ``encrypted:AES256:`` + base64 of a versioned binary envelope.

Envelope, format 1 (all integers big-endian)::

    offset  size  field
    0       1     format version (0x01)
    1       4     data-key version within the secret's scope
    5       12    nonce (random, 96 bits)
    17      n+16  AES-256-GCM ciphertext and tag

The master-key version is not in the envelope: it belongs to the wrapped data key, so rotating
the master key re-wraps data keys without touching a single value.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import NamedTuple

from stacksafe.errors import IntegrityError

__all__ = [
    "FORMAT_V1",
    "HEADER_SIZE",
    "NONCE_SIZE",
    "TAG_SIZE",
    "VALUE_PREFIX",
    "Envelope",
    "data_key_version",
    "decode_value",
    "encode_value",
]

VALUE_PREFIX = "encrypted:AES256:"
FORMAT_V1 = 1
NONCE_SIZE = 12
TAG_SIZE = 16
_HEADER = struct.Struct(">BI")
HEADER_SIZE = _HEADER.size


class Envelope(NamedTuple):
    """A parsed envelope; ``header`` is authenticated as part of the associated data.

    A named tuple (immutable) rather than a frozen dataclass: parsing one per value opened, the
    dataclass's construction cost more than the cipher on small values."""

    format: int
    data_key_version: int
    nonce: bytes
    ciphertext: bytes

    @property
    def header(self) -> bytes:
        return _HEADER.pack(self.format, self.data_key_version)

    def to_bytes(self) -> bytes:
        return self.header + self.nonce + self.ciphertext

    @classmethod
    def header_for(cls, data_key_version: int) -> bytes:
        return _HEADER.pack(FORMAT_V1, data_key_version)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Envelope:
        dk_version = data_key_version(blob)
        nonce = blob[HEADER_SIZE : HEADER_SIZE + NONCE_SIZE]
        return cls(FORMAT_V1, dk_version, nonce, blob[HEADER_SIZE + NONCE_SIZE :])


def data_key_version(blob: bytes) -> int:
    """The data-key version a stored envelope names, once its length and format are checked.

    The checks of ``Envelope.from_bytes`` without building the object, for the precise error of
    a value that readers of hundreds of values at once cannot open (``ScopeKeys.open``).
    """
    if len(blob) < HEADER_SIZE + NONCE_SIZE + TAG_SIZE:
        raise IntegrityError("stored value is truncated: the envelope is too short")
    fmt, dk_version = _HEADER.unpack_from(blob)
    if fmt != FORMAT_V1:
        raise IntegrityError(f"stored value has unknown envelope format {fmt}")
    version: int = dk_version
    return version


def encode_value(envelope: bytes) -> str:
    """The public ``value`` string of a stored envelope."""
    # b2a_base64 is what base64.b64encode calls, without its Python frame: same text.
    return VALUE_PREFIX + binascii.b2a_base64(envelope, newline=False).decode("ascii")


def decode_value(value: str) -> bytes:
    """The envelope bytes behind a ``value`` string; malformed text is an integrity error."""
    if not value.startswith(VALUE_PREFIX):
        raise IntegrityError(f"stored value does not start with {VALUE_PREFIX!r}")
    try:
        return base64.b64decode(value[len(VALUE_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError("stored value is not valid base64") from None
