"""Sealed files (crypto.stream): round trip, and every kind of tampering is one clear error."""

from __future__ import annotations

import hashlib
import io
import struct

import pytest

from stacksafe.crypto import Keyring, MasterKey
from stacksafe.crypto.stream import MAGIC, SealedWriter, open_sealed
from stacksafe.errors import ConfigurationError, IntegrityError

K1 = MasterKey(1, hashlib.sha256(b"stream one").digest())
K2 = MasterKey(2, hashlib.sha256(b"stream two").digest())
OTHER = MasterKey(1, hashlib.sha256(b"someone else").digest())
CHUNK = 64


def sealed(data: bytes, keyring: Keyring | None = None, chunk: int = CHUNK) -> bytes:
    out = io.BytesIO()
    writer = SealedWriter(out, keyring or Keyring([K1], "test"), chunk_size=chunk)
    writer.write(data[: len(data) // 2])
    writer.write(data[len(data) // 2 :])
    writer.finish()
    assert writer.bytes_written == len(out.getvalue())
    return out.getvalue()


def opened(raw: bytes, keyring: Keyring | None = None) -> bytes:
    return b"".join(open_sealed(io.BytesIO(raw), keyring or Keyring([K1], "test")))


def chunks_of(raw: bytes) -> tuple[bytes, list[bytes]]:
    """(header, each chunk with its length prefix)."""
    offset = len(MAGIC) + 1 + 4 + 32
    (wrapped,) = struct.unpack(">H", raw[offset : offset + 2])
    offset += 2 + wrapped + 4
    header, rest, found = raw[:offset], raw[offset:], []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        found.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return header, found


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK, 10 * CHUNK + 7])
def test_round_trip(size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    raw = sealed(data)
    assert opened(raw) == data
    assert len(chunks_of(raw)[1]) == max(1, -(-size // CHUNK))


def test_plaintext_does_not_appear_and_each_file_differs() -> None:
    data = b"DATABASE_PASSWORD=correct horse battery staple\n" * 20
    first, second = sealed(data), sealed(data)
    assert b"correct horse" not in first
    assert first != second  # a fresh file key each time
    assert opened(first) == opened(second) == data


def test_rotated_keyring_seals_with_newest_and_opens_with_it() -> None:
    both = Keyring([K1, K2], "test")
    raw = sealed(b"x" * 200, both)
    assert opened(raw, both) == b"x" * 200
    with pytest.raises(ConfigurationError, match="master key version 2"):
        opened(raw, Keyring([K1], "test"))


def test_wrong_master_key_is_a_configuration_error() -> None:
    raw = sealed(b"secret" * 50)
    with pytest.raises(ConfigurationError, match="key check value mismatch"):
        opened(raw, Keyring([OTHER], "other key"))


def test_every_flipped_byte_is_refused() -> None:
    raw = sealed(b"0123456789" * 30)
    for position in range(len(raw)):
        damaged = bytearray(raw)
        damaged[position] ^= 0x01
        with pytest.raises((IntegrityError, ConfigurationError)):
            opened(bytes(damaged))


@pytest.mark.parametrize("cut", [1, 5, 17, 100])
def test_truncation_is_refused(cut: int) -> None:
    raw = sealed(b"abc" * 200)
    with pytest.raises(IntegrityError, match=r"truncated|authentication"):
        opened(raw[:-cut])


def test_dropping_the_last_chunk_is_refused() -> None:
    header, chunks = chunks_of(sealed(b"abc" * 200))
    with pytest.raises(IntegrityError, match="last chunk is missing"):
        opened(header + b"".join(chunks[:-1]))


def test_reordered_dropped_or_repeated_chunks_are_refused() -> None:
    header, chunks = chunks_of(sealed(bytes(range(256)) * 2))
    assert len(chunks) >= 4
    for bad in (
        [chunks[1], chunks[0], *chunks[2:]],
        [chunks[0], *chunks[2:]],
        [chunks[0], chunks[0], *chunks[1:]],
        [*chunks[:-2], chunks[-1], chunks[-2]],
    ):
        with pytest.raises(IntegrityError, match="failed authentication"):
            opened(header + b"".join(bad))


def test_chunks_of_another_file_are_refused() -> None:
    data = b"same plaintext " * 30
    header_a, chunks_a = chunks_of(sealed(data))
    _, chunks_b = chunks_of(sealed(data))
    with pytest.raises(IntegrityError, match="failed authentication"):
        opened(header_a + chunks_a[0] + b"".join(chunks_b[1:]))


def test_trailing_bytes_and_foreign_files_are_refused() -> None:
    raw = sealed(b"abc")
    with pytest.raises(IntegrityError, match="after its last chunk"):
        opened(raw + b"\x00")
    with pytest.raises(IntegrityError, match="not a stacksafe backup"):
        opened(b"PK\x03\x04 a zip file")
    with pytest.raises(IntegrityError, match="not a stacksafe backup"):
        opened(b"")
