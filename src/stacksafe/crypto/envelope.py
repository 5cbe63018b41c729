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

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stacksafe.crypto.format import (
    FORMAT_V1,
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


def _value_aad(header: bytes, prefix: bytes, key: str, version: int) -> bytes:
    """A value's associated data: its envelope header, the scope's framed prefix, the framed key
    and version (what ``Binding.aad`` gives), built in one join: per value, on every seal and
    open, it cost as much as the cipher on small values."""
    raw_key = key.encode()
    raw_version = b"%d" % version
    return b"".join(
        (
            header,
            prefix,
            _LENGTH.pack(len(raw_key)),
            raw_key,
            _LENGTH.pack(len(raw_version)),
            raw_version,
        )
    )


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
        return _value_aad(header, self.scope.value_aad_prefix, self.key, self.version)


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
        header = self._header
        nonce = os.urandom(NONCE_SIZE)
        return header + nonce + self._aead.encrypt(nonce, plaintext, binding.aad(header))

    def open(self, envelope: Envelope, binding: Binding) -> bytes:
        try:
            return self._aead.decrypt(
                envelope.nonce, envelope.ciphertext, binding.aad(envelope.header)
            )
        except InvalidTag:
            raise _tampered(binding.key, binding.version) from None

    def open_stored(self, blob: bytes, scope: Scope, key: str, version: int) -> bytes:
        """``open(Envelope.from_bytes(blob), Binding(scope, key, version))``, the same checks
        and associated data, without the two objects: a reveal opens hundreds of values, and
        building them cost more than the cipher on small values.
        """
        data_key_version(blob)  # length and format, as Envelope.from_bytes checks them
        return self._open_checked(blob, scope.value_aad_prefix, key, version)

    def _open_checked(self, blob: bytes, aad_prefix: bytes, key: str, version: int) -> bytes:
        """Open a stored envelope whose length and format the caller has checked."""
        aad = _value_aad(blob[:HEADER_SIZE], aad_prefix, key, version)
        try:
            return self._aead.decrypt(
                blob[HEADER_SIZE:_CIPHERTEXT_START], blob[_CIPHERTEXT_START:], aad
            )
        except InvalidTag:
            raise _tampered(key, version) from None


_CIPHERTEXT_START = HEADER_SIZE + NONCE_SIZE
_MIN_ENVELOPE = HEADER_SIZE + NONCE_SIZE + TAG_SIZE


class ScopeKeys:
    """The unwrapped data keys of one scope by version: opens that scope's stored values.

    A reveal opens every value of a stack and its account with two of these, parsing each
    envelope header once to pick the data key it names.
    """

    __slots__ = ("_aad_prefix", "_keys", "scope")

    def __init__(self, scope: Scope, keys: Iterable[DataKey]) -> None:
        self.scope = scope
        self._keys = {data_key.version: data_key for data_key in keys}
        self._aad_prefix = scope.value_aad_prefix

    def __repr__(self) -> str:
        return f"ScopeKeys({self.scope!r}, versions={sorted(self._keys)})"

    def open(self, blob: bytes, key: str, version: int) -> bytes:
        """The plaintext of ``key`` at ``version`` in this scope, authenticated.

        ``data_key_version`` and ``DataKey.open_stored`` inlined, the same checks and associated
        data: this runs once per value of every reveal, and its calls cost more than the cipher.
        """
        if len(blob) < _MIN_ENVELOPE or blob[0] != FORMAT_V1:
            try:
                data_key_version(blob)  # raises the precise error
            except IntegrityError as malformed:
                # Named, as every other integrity error of a value is (only on this path).
                raise IntegrityError(
                    f"the stored value of {key!r} (version {version}): {malformed.message}"
                ) from None
        dk_version = int.from_bytes(blob[1:HEADER_SIZE], "big")
        data_key = self._keys.get(dk_version)
        if data_key is None:
            raise IntegrityError(
                f"the stored value of {key!r} names data key version "
                f"{dk_version}, which does not exist in its scope"
            )
        key_bytes = key.encode()
        version_bytes = b"%d" % version
        aad = b"".join(
            (
                blob[:HEADER_SIZE],
                self._aad_prefix,
                len(key_bytes).to_bytes(4, "big"),
                key_bytes,
                len(version_bytes).to_bytes(4, "big"),
                version_bytes,
            )
        )
        try:
            return data_key._aead.decrypt(
                blob[HEADER_SIZE:_CIPHERTEXT_START], blob[_CIPHERTEXT_START:], aad
            )
        except InvalidTag:
            raise _tampered(key, version) from None


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
