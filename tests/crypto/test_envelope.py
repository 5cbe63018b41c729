"""Sealing and opening values, the public value string, and the data-key cache."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacksafe.crypto import (
    Binding,
    DataKey,
    DataKeyCache,
    Envelope,
    Keyring,
    MasterKey,
    Scope,
    decode_value,
    encode_value,
)
from stacksafe.crypto.format import HEADER_SIZE, NONCE_SIZE, TAG_SIZE, VALUE_PREFIX
from stacksafe.errors import IntegrityError


def _material(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


ACCOUNT = "acc0000000000000000000000000000a"
OTHER_ACCOUNT = "acc0000000000000000000000000000b"
STACK = "stk0000000000000000000000000000a"
OTHER_STACK = "stk0000000000000000000000000000b"

DATA_KEY = DataKey(1, _material("data key one"))
OTHER_DATA_KEY = DataKey(1, _material("data key two"))
BINDING = Binding(Scope(ACCOUNT, STACK), "DATABASE_URL", 3)


def _open(data_key: DataKey, blob: bytes, binding: Binding) -> bytes:
    return data_key.open(Envelope.from_bytes(blob), binding)


def _open_value(data_key: DataKey, value: str, binding: Binding) -> bytes:
    return data_key.open(Envelope.from_bytes(decode_value(value)), binding)


# --------------------------------------------------------------------------- round trip

_bindings = st.builds(
    Binding,
    st.builds(Scope, st.text(max_size=40), st.none() | st.text(min_size=1, max_size=40)),
    st.text(max_size=60),
    st.integers(min_value=0, max_value=2**63),
)


@given(plaintext=st.text(), binding=_bindings)
def test_seal_then_open_returns_the_text(plaintext: str, binding: Binding) -> None:
    raw = plaintext.encode("utf-8")
    value = encode_value(DATA_KEY.seal(raw, binding))

    assert value.startswith(VALUE_PREFIX)
    assert _open_value(DATA_KEY, value, binding).decode("utf-8") == plaintext


@given(plaintext=st.binary(max_size=2048))
def test_seal_then_open_returns_arbitrary_bytes(plaintext: bytes) -> None:
    blob = DATA_KEY.seal(plaintext, BINDING)

    assert len(blob) == HEADER_SIZE + NONCE_SIZE + len(plaintext) + TAG_SIZE
    assert _open(DATA_KEY, blob, BINDING) == plaintext


@pytest.mark.parametrize(
    "plaintext",
    ["", "x", "pässwörd 🔐 日本語", "\x00\n\r\t", "a" * 100_000],
    ids=["empty", "one-char", "unicode", "control-chars", "100k"],
)
def test_seal_then_open_examples(plaintext: str) -> None:
    blob = DATA_KEY.seal(plaintext.encode(), BINDING)
    assert _open(DATA_KEY, blob, BINDING).decode() == plaintext


@given(envelope=st.binary())
def test_encode_then_decode_value_is_identity(envelope: bytes) -> None:
    assert decode_value(encode_value(envelope)) == envelope


def test_sealed_envelope_layout() -> None:
    data_key = DataKey(0x01020304, _material("layout"))
    blob = data_key.seal(b"abc", BINDING)

    assert blob[0] == 1
    assert blob[1:5] == b"\x01\x02\x03\x04"
    assert len(blob) == 1 + 4 + 12 + 3 + 16
    envelope = Envelope.from_bytes(blob)
    assert envelope.data_key_version == 0x01020304
    assert envelope.nonce == blob[5:17]
    assert envelope.ciphertext == blob[17:]
    assert b"abc" not in blob[17:]


def test_value_string_is_prefix_plus_standard_base64() -> None:
    blob = bytes(range(256))
    value = encode_value(blob)

    assert value == "encrypted:AES256:" + base64.b64encode(blob).decode("ascii")
    # standard, not URL-safe, alphabet
    assert "+" in value
    assert "/" in value


def test_two_seals_of_the_same_value_use_different_nonces() -> None:
    first = Envelope.from_bytes(DATA_KEY.seal(b"same value", BINDING))
    second = Envelope.from_bytes(DATA_KEY.seal(b"same value", BINDING))

    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext
    assert DATA_KEY.open(first, BINDING) == DATA_KEY.open(second, BINDING) == b"same value"


def test_nonces_do_not_repeat_over_many_seals() -> None:
    nonces = {Envelope.from_bytes(DATA_KEY.seal(b"v", BINDING)).nonce for _ in range(500)}
    assert len(nonces) == 500


# --------------------------------------------------------------------------- tampering


def test_flipping_any_bit_of_a_sealed_envelope_is_refused() -> None:
    blob = DATA_KEY.seal(b"xy", BINDING)
    assert len(blob) == HEADER_SIZE + NONCE_SIZE + 2 + TAG_SIZE
    for position in range(len(blob)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(blob)
            tampered[position] ^= mask
            with pytest.raises(IntegrityError):
                _open(DATA_KEY, bytes(tampered), BINDING)
    assert _open(DATA_KEY, blob, BINDING) == b"xy"


def test_flipping_a_bit_of_an_empty_plaintext_envelope_is_refused() -> None:
    blob = DATA_KEY.seal(b"", BINDING)
    assert len(blob) == HEADER_SIZE + NONCE_SIZE + TAG_SIZE
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x04
        with pytest.raises(IntegrityError):
            _open(DATA_KEY, bytes(tampered), BINDING)


@given(position=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_flipping_bits_of_a_longer_envelope_is_refused(position: int, mask: int) -> None:
    blob = DATA_KEY.seal(b"a longer secret value " * 8, BINDING)
    tampered = bytearray(blob)
    tampered[position % len(blob)] ^= mask
    with pytest.raises(IntegrityError):
        _open(DATA_KEY, bytes(tampered), BINDING)


_SHORT = DATA_KEY.seal(b"0123456789", BINDING)


@pytest.mark.parametrize(
    "length",
    [
        0,
        1,
        HEADER_SIZE - 1,
        HEADER_SIZE,
        HEADER_SIZE + NONCE_SIZE - 1,
        HEADER_SIZE + NONCE_SIZE,
        HEADER_SIZE + NONCE_SIZE + TAG_SIZE - 1,
        HEADER_SIZE + NONCE_SIZE + TAG_SIZE,
        len(_SHORT) - TAG_SIZE,
        len(_SHORT) - 1,
    ],
)
def test_truncated_envelope_is_refused(length: int) -> None:
    with pytest.raises(IntegrityError):
        _open(DATA_KEY, _SHORT[:length], BINDING)


def test_truncated_value_string_is_refused() -> None:
    value = encode_value(_SHORT)
    for cut in (len(VALUE_PREFIX), len(VALUE_PREFIX) + 4, len(value) - 4):
        with pytest.raises(IntegrityError):
            _open_value(DATA_KEY, value[:cut], BINDING)


@pytest.mark.parametrize("suffix", [b"\x00", b"\x00" * 16, b"extra bytes"])
def test_extended_envelope_is_refused(suffix: bytes) -> None:
    with pytest.raises(IntegrityError):
        _open(DATA_KEY, _SHORT + suffix, BINDING)


def test_envelope_with_tag_moved_is_refused() -> None:
    body = _SHORT[HEADER_SIZE + NONCE_SIZE :]
    rotated = _SHORT[: HEADER_SIZE + NONCE_SIZE] + body[-TAG_SIZE:] + body[:-TAG_SIZE]
    with pytest.raises(IntegrityError):
        _open(DATA_KEY, rotated, BINDING)


@pytest.mark.parametrize("fmt", [0, 2, 0x7F, 0xFF])
def test_unknown_format_byte_is_refused(fmt: int) -> None:
    blob = bytes([fmt]) + _SHORT[1:]
    with pytest.raises(IntegrityError, match=f"format {fmt}"):
        Envelope.from_bytes(blob)


def test_unknown_format_in_a_hand_built_envelope_fails_authentication() -> None:
    parsed = Envelope.from_bytes(_SHORT)
    forged = Envelope(2, parsed.data_key_version, parsed.nonce, parsed.ciphertext)
    with pytest.raises(IntegrityError):
        DATA_KEY.open(forged, BINDING)


@pytest.mark.parametrize("claimed_version", [0, 2, 0x01000001, 0xFFFFFFFF])
def test_wrong_data_key_version_in_header_is_refused(claimed_version: int) -> None:
    material = _material("versioned data key")
    sealed_by = DataKey(1, material)
    blob = sealed_by.seal(b"value", BINDING)
    forged = struct.pack(">BI", 1, claimed_version) + blob[HEADER_SIZE:]
    assert Envelope.from_bytes(forged).data_key_version == claimed_version

    with pytest.raises(IntegrityError):
        _open(sealed_by, forged, BINDING)
    # Even the "right" key object for the claimed version (same material) must refuse it.
    with pytest.raises(IntegrityError):
        _open(DataKey(claimed_version, material), forged, BINDING)


_MOVED = {
    "other key": Binding(BINDING.scope, "DATABASE_URL_2", BINDING.version),
    "key differing in case": Binding(BINDING.scope, "database_url", BINDING.version),
    "older version": Binding(BINDING.scope, BINDING.key, BINDING.version - 1),
    "newer version": Binding(BINDING.scope, BINDING.key, BINDING.version + 1),
    "other stack": Binding(Scope(ACCOUNT, OTHER_STACK), BINDING.key, BINDING.version),
    "account level": Binding(Scope(ACCOUNT, None), BINDING.key, BINDING.version),
    "other account": Binding(Scope(OTHER_ACCOUNT, STACK), BINDING.key, BINDING.version),
    "other account, account level": Binding(
        Scope(OTHER_ACCOUNT, None), BINDING.key, BINDING.version
    ),
    "account and stack swapped": Binding(Scope(STACK, ACCOUNT), BINDING.key, BINDING.version),
}


@pytest.mark.parametrize("moved_to", _MOVED.values(), ids=_MOVED.keys())
def test_value_moved_to_another_row_is_refused(moved_to: Binding) -> None:
    blob = DATA_KEY.seal(b"s3cret", BINDING)
    assert moved_to != BINDING
    with pytest.raises(IntegrityError):
        _open(DATA_KEY, blob, moved_to)


def test_account_level_value_moved_to_a_stack_is_refused() -> None:
    account_level = Binding(Scope(ACCOUNT, None), "API_KEY", 1)
    blob = DATA_KEY.seal(b"s3cret", account_level)

    assert _open(DATA_KEY, blob, account_level) == b"s3cret"
    with pytest.raises(IntegrityError):
        _open(DATA_KEY, blob, Binding(Scope(ACCOUNT, STACK), "API_KEY", 1))


@pytest.mark.parametrize(
    ("sealed", "opened"),
    [
        (Binding(Scope("ab", "c"), "d", 1), Binding(Scope("a", "bc"), "d", 1)),
        (Binding(Scope("a", "bc"), "d", 1), Binding(Scope("a", "b"), "cd", 1)),
        (Binding(Scope("a", "b"), "c1", 1), Binding(Scope("a", "b"), "c", 11)),
        (Binding(Scope("a", None), "b", 1), Binding(Scope("", None), "ab", 1)),
    ],
)
def test_field_boundaries_are_unambiguous(sealed: Binding, opened: Binding) -> None:
    header = Envelope.header_for(1)
    assert sealed.aad(header) != opened.aad(header)
    with pytest.raises(IntegrityError):
        _open(DATA_KEY, DATA_KEY.seal(b"v", sealed), opened)


def test_value_opened_with_another_data_key_is_refused() -> None:
    blob = DATA_KEY.seal(b"s3cret", BINDING)
    with pytest.raises(IntegrityError):
        _open(OTHER_DATA_KEY, blob, BINDING)


def test_integrity_error_names_the_row_but_not_the_value() -> None:
    blob = DATA_KEY.seal(b"hunter2-plaintext", BINDING)
    with pytest.raises(IntegrityError) as caught:
        _open(OTHER_DATA_KEY, blob, BINDING)

    message = str(caught.value)
    assert "DATABASE_URL" in message
    assert "hunter2" not in message
    assert caught.value.code == "integrity_error"
    assert caught.value.__suppress_context__


# --------------------------------------------------------------------------- decode_value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "AQAAAAEAAQIDBAUGBwgJCgs=",
        "plaintext value",
        "encrypted:AES128:AQAAAAE=",
        "ENCRYPTED:AES256:AQAAAAE=",
        "encrypted:aes256:AQAAAAE=",
        " encrypted:AES256:AQAAAAE=",
        "encrypted:AES256",
        "encrypted-AES256-AQAAAAE=",
    ],
)
def test_decode_value_with_a_bad_prefix_is_refused(value: str) -> None:
    with pytest.raises(IntegrityError, match="encrypted:AES256:"):
        decode_value(value)


@pytest.mark.parametrize(
    "payload",
    [
        "!!!!",
        "AQAAAAE",  # missing padding
        "AQAAAA=E",  # padding in the middle
        "AQAA AAE=",  # whitespace
        "AQAAAAE=\n",  # trailing newline
        "-_-_",  # URL-safe alphabet
        "AQAAAAé=",  # non-ASCII
        "A",
    ],
)
def test_decode_value_with_bad_base64_is_refused(payload: str) -> None:
    with pytest.raises(IntegrityError, match="base64"):
        decode_value(VALUE_PREFIX + payload)


def test_decode_value_of_empty_payload_then_parse_is_refused() -> None:
    with pytest.raises(IntegrityError):
        Envelope.from_bytes(decode_value(VALUE_PREFIX))


# --------------------------------------------------------------------------- DataKeyCache

SCOPE = Scope(ACCOUNT, STACK)


class CountingKeyring(Keyring):
    """A keyring that counts unwraps, to tell cache hits from misses."""

    def __init__(self, keys: list[MasterKey]) -> None:
        super().__init__(keys, "test keyring")
        self.unwraps = 0

    def unwrap(self, version: int, wrapped: bytes, aad: bytes) -> bytes:
        self.unwraps += 1
        return super().unwrap(version, wrapped, aad)


def _keyring(*versions: int) -> CountingKeyring:
    return CountingKeyring([MasterKey(v, _material(f"master key {v}")) for v in versions or (1,)])


def _wrapped(keyring: Keyring, scope: Scope, dk_version: int, label: str) -> tuple[int, bytes]:
    """Wrap a known data key outside any cache: (master-key version, wrapped)."""
    mk_version = keyring.newest.version
    return keyring.wrap(_material(label), scope.data_key_aad(dk_version, mk_version))


def test_cache_unwraps_a_wrapped_key_once() -> None:
    keyring = _keyring()
    mk_version, wrapped = _wrapped(keyring, SCOPE, 1, "dk")
    cache = DataKeyCache(keyring)

    first = cache.unwrap(SCOPE, 1, mk_version, wrapped)
    second = cache.unwrap(SCOPE, 1, mk_version, wrapped)

    assert second is first
    assert keyring.unwraps == 1
    assert first.version == 1
    assert cache.keyring is keyring


def test_cached_key_opens_what_the_known_material_sealed() -> None:
    keyring = _keyring()
    mk_version, wrapped = _wrapped(keyring, SCOPE, 4, "known dk")
    blob = DataKey(4, _material("known dk")).seal(b"value", BINDING)

    data_key = DataKeyCache(keyring).unwrap(SCOPE, 4, mk_version, wrapped)

    assert _open(data_key, blob, BINDING) == b"value"


def test_cache_evicts_beyond_max_entries() -> None:
    keyring = _keyring()
    wrapped = [_wrapped(keyring, SCOPE, v, f"dk {v}") for v in (1, 2, 3)]
    cache = DataKeyCache(keyring, max_entries=2)
    keys = [cache.unwrap(SCOPE, v, mk, w) for v, (mk, w) in zip((1, 2, 3), wrapped, strict=True)]
    assert keyring.unwraps == 3

    # 1 was the least recently used: it is gone, 2 and 3 are still there.
    again_1 = cache.unwrap(SCOPE, 1, *wrapped[0])
    assert keyring.unwraps == 4
    assert again_1 is not keys[0]
    # inserting 1 evicted 2; 3 is still cached
    assert cache.unwrap(SCOPE, 3, *wrapped[2]) is keys[2]
    assert keyring.unwraps == 4
    cache.unwrap(SCOPE, 2, *wrapped[1])
    assert keyring.unwraps == 5


def test_cache_eviction_is_least_recently_used_not_first_inserted() -> None:
    keyring = _keyring()
    wrapped = [_wrapped(keyring, SCOPE, v, f"dk {v}") for v in (1, 2, 3)]
    cache = DataKeyCache(keyring, max_entries=2)
    key_1 = cache.unwrap(SCOPE, 1, *wrapped[0])
    cache.unwrap(SCOPE, 2, *wrapped[1])
    assert cache.unwrap(SCOPE, 1, *wrapped[0]) is key_1  # 1 is now the most recent
    cache.unwrap(SCOPE, 3, *wrapped[2])  # evicts 2, not 1
    assert keyring.unwraps == 3

    assert cache.unwrap(SCOPE, 1, *wrapped[0]) is key_1
    assert keyring.unwraps == 3
    cache.unwrap(SCOPE, 2, *wrapped[1])
    assert keyring.unwraps == 4


def test_wrap_new_respects_max_entries() -> None:
    keyring = _keyring()
    cache = DataKeyCache(keyring, max_entries=2)
    created = [cache.wrap_new(Scope(ACCOUNT, f"stack {n}"), 1) for n in range(5)]

    for n, (_, mk_version, wrapped) in enumerate(created):
        cache.unwrap(Scope(ACCOUNT, f"stack {n}"), 1, mk_version, wrapped)

    # With at most 2 entries, at least 3 of the 5 keys must have been evicted and unwrapped again.
    assert keyring.unwraps >= 3


@pytest.mark.parametrize("position", range(12 + 32 + 16))
def test_tampered_wrapped_key_is_refused(position: int) -> None:
    keyring = _keyring()
    mk_version, wrapped = _wrapped(keyring, SCOPE, 1, "dk")
    assert len(wrapped) == 60
    tampered = bytearray(wrapped)
    tampered[position] ^= 0x01
    cache = DataKeyCache(keyring)

    with pytest.raises(IntegrityError):
        cache.unwrap(SCOPE, 1, mk_version, bytes(tampered))
    # the failure is not cached, and the genuine key still unwraps
    assert cache.unwrap(SCOPE, 1, mk_version, wrapped).version == 1


@pytest.mark.parametrize("length", [8, 12, 27, 28, 59])
def test_truncated_wrapped_key_is_refused(length: int) -> None:
    keyring = _keyring()
    mk_version, wrapped = _wrapped(keyring, SCOPE, 1, "dk")
    with pytest.raises(IntegrityError):
        DataKeyCache(keyring).unwrap(SCOPE, 1, mk_version, wrapped[:length])


@pytest.mark.parametrize("length", [0, 1, 7])
def test_very_short_wrapped_key_is_refused(length: int) -> None:
    keyring = _keyring()
    mk_version, wrapped = _wrapped(keyring, SCOPE, 1, "dk")
    with pytest.raises(IntegrityError):
        DataKeyCache(keyring).unwrap(SCOPE, 1, mk_version, wrapped[:length])


_MOVED_KEY = {
    "other stack": (Scope(ACCOUNT, OTHER_STACK), 1),
    "account level": (Scope(ACCOUNT, None), 1),
    "other account": (Scope(OTHER_ACCOUNT, STACK), 1),
    "other data-key version": (SCOPE, 2),
    "data-key version zero": (SCOPE, 0),
}


@pytest.mark.parametrize(("scope", "dk_version"), _MOVED_KEY.values(), ids=_MOVED_KEY.keys())
def test_wrapped_key_moved_to_another_scope_or_version_is_refused(
    scope: Scope, dk_version: int
) -> None:
    keyring = _keyring()
    mk_version, wrapped = _wrapped(keyring, SCOPE, 1, "dk")
    cache = DataKeyCache(keyring)
    # A cache hit for the genuine row must not let the same bytes through for another row.
    cache.unwrap(SCOPE, 1, mk_version, wrapped)

    with pytest.raises(IntegrityError):
        cache.unwrap(scope, dk_version, mk_version, wrapped)


def test_wrapped_key_claiming_another_master_key_version_is_refused() -> None:
    keyring = _keyring(1, 2)
    mk_version, wrapped = _wrapped(keyring, SCOPE, 1, "dk")
    assert mk_version == 2

    with pytest.raises(IntegrityError):
        DataKeyCache(keyring).unwrap(SCOPE, 1, 1, wrapped)


def test_wrap_new_returns_a_key_that_unwraps_to_an_equivalent_key() -> None:
    keyring = _keyring(1, 2)
    writer = DataKeyCache(keyring)
    data_key, mk_version, wrapped = writer.wrap_new(SCOPE, 5)
    assert data_key.version == 5
    assert mk_version == 2

    reader = DataKeyCache(keyring)
    unwrapped = reader.unwrap(SCOPE, 5, mk_version, wrapped)
    assert unwrapped is not data_key
    assert keyring.unwraps == 1

    binding = Binding(SCOPE, "KEY", 1)
    assert _open(unwrapped, data_key.seal(b"from writer", binding), binding) == b"from writer"
    assert _open(data_key, unwrapped.seal(b"from reader", binding), binding) == b"from reader"


def test_wrap_new_caches_the_new_key() -> None:
    keyring = _keyring()
    cache = DataKeyCache(keyring)
    data_key, mk_version, wrapped = cache.wrap_new(SCOPE, 1)

    assert cache.unwrap(SCOPE, 1, mk_version, wrapped) is data_key
    assert keyring.unwraps == 0


def test_wrap_new_makes_a_fresh_key_every_time() -> None:
    cache = DataKeyCache(_keyring())
    first, _, wrapped_1 = cache.wrap_new(SCOPE, 1)
    second, _, wrapped_2 = cache.wrap_new(SCOPE, 1)

    assert wrapped_1 != wrapped_2
    with pytest.raises(IntegrityError):
        _open(second, first.seal(b"v", BINDING), BINDING)


def test_wrap_new_key_is_bound_to_its_scope() -> None:
    keyring = _keyring()
    _, mk_version, wrapped = DataKeyCache(keyring).wrap_new(Scope(ACCOUNT, None), 1)

    with pytest.raises(IntegrityError):
        DataKeyCache(keyring).unwrap(Scope(ACCOUNT, STACK), 1, mk_version, wrapped)
