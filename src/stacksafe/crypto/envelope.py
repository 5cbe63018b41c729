"""Envelope encryption of values: AES-256-GCM under per-scope data keys wrapped by the master key.

A *scope* is an account's own level or one stack. Each scope has a small series of data keys
(versions 1, 2, ...); new values are sealed under the newest one, which rolls over after
``DATA_KEY_SEAL_LIMIT`` seals so the random-nonce budget of one key is never approached.
Unwrapped data keys are cached, so revealing 200 values costs 200 GCM operations on one or two
key objects, not 200 key unwraps.

Associated data binds each ciphertext to (account, stack-or-account level, key, secret version)
and to its own envelope header: a ciphertext copied to another row or a flipped bit fails to open.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stacksafe.crypto.format import (
    HEADER_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    Envelope,
    data_key_version,
)
from stacksafe.crypto.keyring import KEY_SIZE, Keyring
from stacksafe.errors import ConfigurationError, IntegrityError

__all__ = [
    "DATA_KEY_SEAL_LIMIT",
    "Binding",
    "DataKey",
    "DataKeyCache",
    "Scope",
    "ScopeKeys",
    "frame",
    "new_data_key_material",
]

# NIST SP 800-38D allows 2**32 encryptions per key with random 96-bit nonces. Rolling over at
# 2**24 keeps the nonce-collision probability below 2**-48 per key.
DATA_KEY_SEAL_LIMIT = 2**24


def frame(*fields: str) -> bytes:
    """Length-prefixed concatenation, so no two field tuples share an encoding."""
    return b"".join(_frame_one(text) for text in fields)


def _frame_one(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _LENGTH.pack(len(raw)) + raw


_LENGTH = struct.Struct(">I")


# The framed forms of the key names and version numbers met so far: a process seals and opens
# the same keys at small versions over and over, and framing them per value cost as much as the
# cipher on small values. Names are not secret (they are stored in the clear); a table is emptied
# when full, so its size stays bounded whatever callers send.
_FRAMED_KEYS: dict[str, bytes] = {}
_FRAMED_VERSIONS: dict[int, bytes] = {}
_FRAMED_MAX = 4096
_Field = TypeVar("_Field", str, int)


def _key_version_frame(key: str, version: int) -> bytes:
    """``frame(key, str(version))``: the framed key and version ending a value's associated data."""
    framed_key = _FRAMED_KEYS.get(key) or _remember(_FRAMED_KEYS, key, key)
    return framed_key + (
        _FRAMED_VERSIONS.get(version) or _remember(_FRAMED_VERSIONS, version, f"{version:d}")
    )


def _remember(table: dict[_Field, bytes], field: _Field, text: str) -> bytes:
    framed = _frame_one(text)
    if len(table) >= _FRAMED_MAX:
        table.clear()
    table[field] = framed
    return framed


@dataclass(frozen=True, slots=True)
class Scope:
    """Where secrets live: an account's own level (``stack_uid`` None) or one stack."""

    account_uid: str
    stack_uid: str | None
    # The framed (label, account, stack) prefix of every value's associated data in this scope,
    # computed once: framing per value cost more than the cipher on small values.
    value_aad_prefix: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prefix = frame("stacksafe.value.v1", self.account_uid, self.stack_uid or "")
        object.__setattr__(self, "value_aad_prefix", prefix)

    def data_key_aad(self, data_key_version: int, master_key_version: int) -> bytes:
        return frame(
            "stacksafe.data-key.v1",
            self.account_uid,
            self.stack_uid or "",
            str(data_key_version),
            str(master_key_version),
        )


@dataclass(frozen=True, slots=True)
class Binding:
    """The row a ciphertext belongs to; authenticated as associated data."""

    scope: Scope
    key: str
    version: int

    def aad(self, header: bytes) -> bytes:
        """The associated data of this row's value in an envelope with ``header``: the header,
        the scope's framed prefix, the framed key and version."""
        return header + self.scope.value_aad_prefix + _key_version_frame(self.key, self.version)


def new_data_key_material() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_SIZE * 8)


class DataKey:
    """An unwrapped data key of one scope, ready to seal and open values."""

    __slots__ = ("_aead", "_header", "version")

    def __init__(self, version: int, material: bytes) -> None:
        self.version = version
        self._aead = AESGCM(material)
        self._header = Envelope.header_for(version)

    def __repr__(self) -> str:
        return f"DataKey(version={self.version})"

    def seal(self, plaintext: bytes, binding: Binding) -> bytes:
        # ``binding.aad(header)`` inlined: one call fewer per value written.
        header = self._header
        nonce = _urandom(NONCE_SIZE)
        aad = (
            header
            + binding.scope.value_aad_prefix
            + _key_version_frame(binding.key, binding.version)
        )
        return header + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, envelope: Envelope, binding: Binding) -> bytes:
        try:
            return self._aead.decrypt(
                envelope.nonce, envelope.ciphertext, binding.aad(envelope.header)
            )
        except InvalidTag:
            raise _tampered(binding.key, binding.version) from None

    def open_stored(self, blob: bytes, scope: Scope, key: str, version: int) -> bytes:
        """``open`` of a stored envelope's bytes, whatever data-key version its header names
        (the header is authenticated, so another version's envelope fails to open)."""
        return self.open(Envelope.from_bytes(blob), Binding(scope, key, version))


_CIPHERTEXT_START = HEADER_SIZE + NONCE_SIZE
_MIN_ENVELOPE = HEADER_SIZE + NONCE_SIZE + TAG_SIZE
_urandom = os.urandom


class ScopeKeys:
    """The unwrapped data keys of one scope by version: opens that scope's stored values.

    A reveal opens every value of a stack and its account with two of these. Each data key is
    filed under the envelope header it writes (format and version), so one dictionary lookup of a
    stored envelope's first bytes checks its format, picks the key its header names, and gives the
    start of its associated data (that header and the scope's framed prefix, joined once here).
    """

    __slots__ = ("_by_header", "_keys", "scope")

    def __init__(self, scope: Scope, keys: Iterable[DataKey]) -> None:
        self.scope = scope
        self._keys = {data_key.version: data_key for data_key in keys}
        prefix = scope.value_aad_prefix
        self._by_header = {
            data_key._header: (data_key._aead, data_key._header + prefix)
            for data_key in self._keys.values()
        }

    def __repr__(self) -> str:
        return f"ScopeKeys({self.scope!r}, versions={sorted(self._keys)})"

    def open(self, blob: bytes, key: str, version: int) -> bytes:
        """The plaintext of ``key`` at ``version`` in this scope, authenticated.

        The checks and associated data of ``DataKey.open(Envelope.from_bytes(blob), binding)``,
        inlined: this runs once per value of every reveal, and the calls cost more than the cipher.
        """
        try:
            known = self._by_header.get(blob[:HEADER_SIZE])
        except TypeError:  # a bytearray or memoryview, whose slices cannot be looked up
            return self.open(bytes(blob), key, version)
        if known is None or len(blob) < _MIN_ENVELOPE:
            raise self._refusal(blob, key, version)
        aead, aad_start = known
        try:
            return aead.decrypt(
                blob[HEADER_SIZE:_CIPHERTEXT_START],
                blob[_CIPHERTEXT_START:],
                aad_start + _key_version_frame(key, version),
            )
        except InvalidTag:
            raise _tampered(key, version) from None

    def _refusal(self, blob: bytes, key: str, version: int) -> IntegrityError:
        """Why ``blob`` cannot be opened before any decryption: too short, an unknown format, or
        a data-key version this scope does not have."""
        try:
            dk_version = data_key_version(blob)
        except IntegrityError as malformed:
            # Named, as every other integrity error of a value is (only on this path).
            return IntegrityError(
                f"the stored value of {key!r} (version {version}): {malformed.message}"
            )
        return IntegrityError(
            f"the stored value of {key!r} names data key version "
            f"{dk_version}, which does not exist in its scope"
        )


def _tampered(key: str, version: int) -> IntegrityError:
    return IntegrityError(
        f"the stored value of {key!r} (version {version}) failed "
        "authentication: it was tampered with, corrupted or moved from another row"
    )


class DataKeyCache:
    """Unwrapped data keys, keyed by their wrapped form, bounded in size (LRU)."""

    def __init__(
        self,
        keyring: Keyring,
        max_entries: int = 4096,
        reload: Callable[[], Keyring] | None = None,
    ) -> None:
        self._keyring = keyring
        self._max = max_entries
        self._entries: OrderedDict[tuple[bytes, bytes], DataKey] = OrderedDict()
        self._lock = threading.Lock()
        # Loads the keyring again from its source, verified against the database: called when
        # a data key names a master-key version this keyring does not hold yet (a rotation
        # made by another process since this one started).
        self._reload = reload

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def replace_keyring(self, keyring: Keyring) -> None:
        """Use ``keyring`` from now on (it holds every version the old one did, and more)."""
        missing = set(self._keyring.versions) - set(keyring.versions)
        if missing:
            raise ConfigurationError(
                f"{keyring.source} lacks master key versions {sorted(missing)} that this "
                "installation uses"
            )
        self._keyring = keyring

    def reload(self) -> Keyring:
        if self._reload is None:
            raise ConfigurationError("this keyring cannot be reloaded from its source")
        self.replace_keyring(self._reload())
        return self._keyring

    def clear(self) -> None:
        """Forget every unwrapped data key (they are unwrapped again when next needed)."""
        with self._lock:
            self._entries.clear()

    def unwrap(
        self, scope: Scope, version: int, master_key_version: int, wrapped: bytes
    ) -> DataKey:
        aad = scope.data_key_aad(version, master_key_version)
        cache_key = (aad, wrapped)
        with self._lock:
            cached = self._entries.get(cache_key)
            if cached is not None:
                self._entries.move_to_end(cache_key)
                return cached
        if master_key_version not in self._keyring.versions and self._reload is not None:
            self.reload()
        data_key = DataKey(version, self._keyring.unwrap(master_key_version, wrapped, aad))
        self._put(cache_key, data_key)
        return data_key

    def _put(self, cache_key: tuple[bytes, bytes], data_key: DataKey) -> None:
        with self._lock:
            self._entries[cache_key] = data_key
            self._entries.move_to_end(cache_key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def wrap_new(self, scope: Scope, version: int) -> tuple[DataKey, int, bytes]:
        """A fresh data key for ``scope``: (key, master-key version, wrapped form)."""
        material = new_data_key_material()
        # One keyring for the version and the wrapping: another thread may swap in a reloaded
        # keyring meanwhile, and a key wrapped under one version but stored as another could
        # never be unwrapped again.
        keyring = self._keyring
        mk_version = keyring.newest.version
        wrapped_version, wrapped = keyring.wrap(material, scope.data_key_aad(version, mk_version))
        if wrapped_version != mk_version:  # pragma: no cover - a Keyring wraps with its newest
            raise IntegrityError("a data key was wrapped under an unexpected master-key version")
        data_key = DataKey(version, material)
        self._put((scope.data_key_aad(version, mk_version), wrapped), data_key)
        return data_key, mk_version, wrapped
