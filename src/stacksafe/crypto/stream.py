"""Sealed files: a byte stream encrypted in chunks with AES-256-GCM under a fresh file key.

The file key is random, used for one file only, and wrapped under the master key (as data keys
are). Each chunk's nonce is its index, unique under that key; its associated data binds the file
header, the index and whether it is the last chunk, so chunks cannot be reordered, dropped,
repeated or cut off without :class:`IntegrityError`. Knows nothing of what the bytes mean.

Layout::

    magic (16) | format (1) | master-key version (4) | key check value (32) |
    wrapped key length (2) | wrapped file key | chunk size (4)
    then per chunk: length (4) | ciphertext and tag

The header up to the wrapped key is the wrap's associated data; the whole header is every
chunk's.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stacksafe.crypto.keyring import KEY_SIZE, Keyring
from stacksafe.errors import ConfigurationError, IntegrityError

__all__ = ["CHUNK_SIZE", "MAGIC", "SealedWriter", "open_sealed"]

MAGIC = b"stacksafe-backup"
_FORMAT = 1
CHUNK_SIZE = 1 << 16
_MAX_CHUNK = 1 << 24
_TAG = 16
_FIXED = struct.Struct(">BI32sH")
_LENGTH = struct.Struct(">I")


def _chunk_aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


class SealedWriter:
    """Writes a sealed stream to ``out``: ``write`` plaintext, then ``finish`` (the last chunk)."""

    def __init__(self, out: BinaryIO, keyring: Keyring, chunk_size: int = CHUNK_SIZE) -> None:
        if not 0 < chunk_size <= _MAX_CHUNK:
            raise ValueError("chunk size out of range")
        master = keyring.newest
        file_key = AESGCM.generate_key(bit_length=256)
        prefix = MAGIC + _FIXED.pack(_FORMAT, master.version, master.check_value(), 0)[:-2]
        version, wrapped = keyring.wrap(file_key, prefix)
        assert version == master.version  # noqa: S101 - wrap uses the newest key
        self._header = prefix + struct.pack(">H", len(wrapped)) + wrapped + _LENGTH.pack(chunk_size)
        self._aead = AESGCM(file_key)
        self._out = out
        self._chunk_size = chunk_size
        self._pending = bytearray()
        self._index = 0
        self.bytes_written = 0
        self._emit(self._header)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self.bytes_written += len(data)

    def _seal(self, plain: bytes, final: bool) -> None:
        sealed = self._aead.encrypt(
            _nonce(self._index), plain, _chunk_aad(self._header, self._index, final)
        )
        self._emit(_LENGTH.pack(len(sealed)) + sealed)
        self._index += 1

    def write(self, data: bytes) -> None:
        self._pending += data
        # Keep at least one byte back: the last chunk is sealed by ``finish``, marked final.
        while len(self._pending) > self._chunk_size:
            self._seal(bytes(self._pending[: self._chunk_size]), final=False)
            del self._pending[: self._chunk_size]

    def finish(self) -> None:
        self._seal(bytes(self._pending), final=True)
        self._pending.clear()


def _read_exactly(source: BinaryIO, size: int, what: str) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise IntegrityError(f"the backup file is truncated ({what} is incomplete)")
    return data


def _file_key(source: BinaryIO, keyring: Keyring) -> tuple[bytes, bytes, int]:
    """(file key, header, chunk size) from the start of ``source``."""
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        raise IntegrityError("this is not a stacksafe backup file")
    fixed = _read_exactly(source, _FIXED.size, "the header")
    format_, version, check_value, wrapped_length = _FIXED.unpack(fixed)
    if format_ != _FORMAT:
        raise IntegrityError(f"backup file format {format_} is not supported (expected {_FORMAT})")
    held = keyring.check_values().get(version)
    if held is None:
        raise ConfigurationError(
            f"the backup was made with master key version {version}, which {keyring.source} "
            f"does not provide (it holds {keyring.versions})"
        )
    if not hmac.compare_digest(held, check_value):
        raise ConfigurationError(
            f"the master key version {version} from {keyring.source} is not the one this backup "
            "was made with (key check value mismatch); nothing was read or written"
        )
    wrapped = _read_exactly(source, wrapped_length, "the wrapped key")
    (chunk_size,) = _LENGTH.unpack(_read_exactly(source, _LENGTH.size, "the header"))
    if not 0 < chunk_size <= _MAX_CHUNK:
        raise IntegrityError("the backup file header is damaged (chunk size)")
    prefix = MAGIC + fixed[:-2]
    file_key = keyring.unwrap(version, wrapped, prefix)
    if len(file_key) != KEY_SIZE:  # pragma: no cover - unwrap checks the length
        raise IntegrityError("the backup file key has the wrong length")
    header = prefix + fixed[-2:] + wrapped + _LENGTH.pack(chunk_size)
    return file_key, header, chunk_size


def open_sealed(source: BinaryIO, keyring: Keyring) -> Iterator[bytes]:
    """The plaintext chunks of a sealed stream, each authenticated before it is yielded.

    Raises :class:`IntegrityError` for any tampering, reordering, truncation or trailing bytes
    (after the chunks already yielded: a consumer acts on the data only once iteration ends),
    :class:`ConfigurationError` when ``keyring`` lacks the master key the file was made with.
    """
    file_key, header, chunk_size = _file_key(source, keyring)
    aead = AESGCM(file_key)
    index = 0
    while True:
        raw_length = source.read(_LENGTH.size)
        if not raw_length:
            raise IntegrityError("the backup file is truncated (its last chunk is missing)")
        if len(raw_length) != _LENGTH.size:
            raise IntegrityError("the backup file is truncated (a chunk is incomplete)")
        (length,) = _LENGTH.unpack(raw_length)
        if not _TAG <= length <= chunk_size + _TAG:
            raise IntegrityError(f"chunk {index} of the backup file is damaged (its length)")
        sealed = _read_exactly(source, length, f"chunk {index}")
        final = _open_chunk(aead, header, index, sealed)
        yield final[1]
        if final[0]:
            break
        index += 1
    if source.read(1):
        raise IntegrityError("the backup file has bytes after its last chunk")


def _open_chunk(aead: AESGCM, header: bytes, index: int, sealed: bytes) -> tuple[bool, bytes]:
    """(is the last chunk, plaintext); a chunk opens under exactly one of the two flags."""
    for final in (False, True):
        try:
            return final, aead.decrypt(_nonce(index), sealed, _chunk_aad(header, index, final))
        except InvalidTag:
            continue
    raise IntegrityError(
        f"chunk {index} of the backup file failed authentication: it was tampered with, "
        "moved or belongs to another file"
    )
