"""Opening stored values through ``ScopeKeys``, the path every reveal takes, and the framing of
the key and version in a value's associated data (kept per process in bounded tables)."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacksafe.crypto import Binding, DataKey, Envelope, Scope, ScopeKeys
from stacksafe.crypto import envelope as envelope_module
from stacksafe.crypto.format import HEADER_SIZE, NONCE_SIZE, TAG_SIZE
from stacksafe.errors import IntegrityError

SCOPE = Scope("acc0000000000000000000000000000a", "stk0000000000000000000000000000a")
OTHER_SCOPE = Scope("acc0000000000000000000000000000a", "stk0000000000000000000000000000b")
KEY_ONE = DataKey(1, hashlib.sha256(b"scope keys one").digest())
KEY_TWO = DataKey(2, hashlib.sha256(b"scope keys two").digest())
KEYS = ScopeKeys(SCOPE, [KEY_ONE, KEY_TWO])
BINDING = Binding(SCOPE, "DATABASE_URL", 3)


def _framed(text: str) -> bytes:
    """The length-prefixed field of the format, written out here independently."""
    raw = text.encode("utf-8")
    return struct.pack(">I", len(raw)) + raw


def _expected_aad(header: bytes, binding: Binding) -> bytes:
    scope = binding.scope
    return (
        header
        + _framed("stacksafe.value.v1")
        + _framed(scope.account_uid)
        + _framed(scope.stack_uid or "")
        + _framed(binding.key)
        + _framed(str(binding.version))
    )


# ------------------------------------------------------------------------- round trip


@given(
    plaintext=st.binary(max_size=300),
    # Up to 4 bytes per character: key names past the 255-byte short lengths are covered.
    key=st.text(max_size=120),
    version=st.integers(min_value=0, max_value=2**63),
)
def test_scope_keys_open_what_each_data_key_sealed(
    plaintext: bytes, key: str, version: int
) -> None:
    binding = Binding(SCOPE, key, version)
    for data_key in (KEY_ONE, KEY_TWO):
        blob = data_key.seal(plaintext, binding)
        assert KEYS.open(blob, key, version) == plaintext
        assert data_key.open(Envelope.from_bytes(blob), binding) == plaintext


@given(
    key=st.text(max_size=120),
    version=st.integers(min_value=0, max_value=2**63),
    data_key_version=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_associated_data_is_the_documented_framing(
    key: str, version: int, data_key_version: int
) -> None:
    binding = Binding(SCOPE, key, version)
    header = Envelope.header_for(data_key_version)
    # Twice: the second comes from the tables the first filled.
    assert binding.aad(header) == _expected_aad(header, binding)
    assert binding.aad(header) == _expected_aad(header, binding)


def test_framing_tables_stay_bounded_and_right_when_full() -> None:
    limit = envelope_module._FRAMED_MAX
    header = Envelope.header_for(1)
    for n in range(limit + 50):
        binding = Binding(SCOPE, f"KEY_{n}", limit + n)
        assert binding.aad(header) == _expected_aad(header, binding)
        assert len(envelope_module._FRAMED_KEYS) <= limit
        assert len(envelope_module._FRAMED_VERSIONS) <= limit
    # A key framed before the tables were emptied is framed again, the same way.
    assert BINDING.aad(header) == _expected_aad(header, BINDING)
    assert KEYS.open(KEY_ONE.seal(b"after", BINDING), BINDING.key, BINDING.version) == b"after"


def test_a_bytes_like_envelope_opens_as_its_bytes() -> None:
    blob = KEY_ONE.seal(b"s3cret", BINDING)
    for bytes_like in (bytearray(blob), memoryview(blob)):
        assert KEYS.open(bytes_like, BINDING.key, BINDING.version) == b"s3cret"  # type: ignore[arg-type]


# ------------------------------------------------------------------- one key per header


def test_each_value_opens_only_under_the_data_key_its_header_names() -> None:
    sealed_by_one = KEY_ONE.seal(b"s3cret", BINDING)
    relabelled = Envelope.header_for(2) + sealed_by_one[HEADER_SIZE:]

    assert KEYS.open(sealed_by_one, BINDING.key, BINDING.version) == b"s3cret"
    # Key two is picked for the relabelled header, and its header is authenticated anyway.
    with pytest.raises(IntegrityError, match="failed authentication"):
        KEYS.open(relabelled, BINDING.key, BINDING.version)
    # Even key one's own material, filed as version 2, refuses it: the header is authenticated.
    with pytest.raises(IntegrityError, match="failed authentication"):
        ScopeKeys(SCOPE, [DataKey(2, hashlib.sha256(b"scope keys one").digest())]).open(
            relabelled, BINDING.key, BINDING.version
        )


def test_a_data_key_version_the_scope_lacks_is_named() -> None:
    blob = KEY_TWO.seal(b"s3cret", BINDING)
    with pytest.raises(IntegrityError, match="names data key version 2, which does not exist"):
        ScopeKeys(SCOPE, [KEY_ONE]).open(blob, BINDING.key, BINDING.version)


def test_the_same_version_of_another_scope_does_not_open_the_value() -> None:
    """Two scopes' keys of one version share a header: each opens its own scope's values only."""
    other_key = DataKey(1, hashlib.sha256(b"another scope's key one").digest())
    other_keys = ScopeKeys(OTHER_SCOPE, [other_key])
    ours = KEY_ONE.seal(b"ours", BINDING)
    theirs = other_key.seal(b"theirs", Binding(OTHER_SCOPE, BINDING.key, BINDING.version))

    assert KEYS.open(ours, BINDING.key, BINDING.version) == b"ours"
    assert other_keys.open(theirs, BINDING.key, BINDING.version) == b"theirs"
    for keys, blob in ((KEYS, theirs), (other_keys, ours)):
        with pytest.raises(IntegrityError, match="failed authentication"):
            keys.open(blob, BINDING.key, BINDING.version)


# -------------------------------------------------------------------------- tampering

_BLOB = KEY_ONE.seal(b"xy", BINDING)


def test_flipping_any_bit_is_refused_through_scope_keys() -> None:
    for position in range(len(_BLOB)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(_BLOB)
            tampered[position] ^= mask
            with pytest.raises(IntegrityError) as caught:
                KEYS.open(bytes(tampered), BINDING.key, BINDING.version)
            assert "xy" not in str(caught.value)
    assert KEYS.open(_BLOB, BINDING.key, BINDING.version) == b"xy"


@pytest.mark.parametrize(
    "length",
    [0, 1, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + NONCE_SIZE + TAG_SIZE - 1],
)
def test_truncated_envelope_is_refused_and_named(length: int) -> None:
    with pytest.raises(IntegrityError, match=r"'DATABASE_URL' \(version 3\).*truncated"):
        KEYS.open(_BLOB[:length], BINDING.key, BINDING.version)


def test_truncated_to_the_tag_is_refused() -> None:
    with pytest.raises(IntegrityError, match="failed authentication"):
        KEYS.open(_BLOB[:-1], BINDING.key, BINDING.version)


@pytest.mark.parametrize("fmt", [0, 2, 0xFF])
def test_unknown_format_is_refused_and_named(fmt: int) -> None:
    with pytest.raises(IntegrityError, match=f"'DATABASE_URL' \\(version 3\\).*format {fmt}"):
        KEYS.open(bytes([fmt]) + _BLOB[1:], BINDING.key, BINDING.version)


def test_extended_envelope_is_refused() -> None:
    with pytest.raises(IntegrityError, match="failed authentication"):
        KEYS.open(_BLOB + b"\x00", BINDING.key, BINDING.version)
