"""Master keys (key-encryption keys): where they come from, how they are checked, how they wrap.

A master key never encrypts a value. It wraps data keys (AES-256-GCM, associated data naming the
scope and versions the data key belongs to), and proves itself against the database through a
key check value: ``HMAC-SHA256(master key, "stacksafe key check value v1")``. The check value
reveals nothing about the key and lets a wrong key be refused before anything is read or written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stacksafe.crypto.private_file import read_private_file
from stacksafe.errors import ConfigurationError, IntegrityError

__all__ = [
    "KEY_SIZE",
    "Keyring",
    "MasterKey",
    "generate_master_key",
    "keyring_from_file",
    "keyring_from_text",
    "replace_key_file",
    "write_key_file",
]

KEY_SIZE = 32
_KCV_LABEL = b"stacksafe key check value v1"
_WRAP_NONCE = 12
_TAG = 16


@dataclass(frozen=True, slots=True)
class MasterKey:
    """One version of the master key; the material never appears in a repr."""

    version: int
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_SIZE:
            raise ConfigurationError(
                f"master key version {self.version} is {len(self.material)} bytes; "
                f"a master key is {KEY_SIZE} bytes (256 bits)"
            )
        if self.version < 1:
            raise ConfigurationError("master key versions start at 1")

    def check_value(self) -> bytes:
        return hmac.new(self.material, _KCV_LABEL, hashlib.sha256).digest()


def generate_master_key(version: int = 1) -> MasterKey:
    return MasterKey(version, secrets.token_bytes(KEY_SIZE))


class Keyring:
    """The master keys an installation holds: wraps with the newest, unwraps with any."""

    def __init__(self, keys: Iterable[MasterKey], source: str, *, mismatch_hint: str = "") -> None:
        by_version: dict[int, MasterKey] = {}
        for key in keys:
            if key.version in by_version:
                raise ConfigurationError(f"{source} lists master key version {key.version} twice")
            by_version[key.version] = key
        if not by_version:
            raise ConfigurationError(f"{source} holds no master key")
        self._keys = by_version
        self._aead = {v: AESGCM(k.material) for v, k in by_version.items()}
        self.source = source
        # Said after a key check value mismatch: what is likely wrong with this source.
        self.mismatch_hint = mismatch_hint

    def __repr__(self) -> str:
        return f"Keyring(source={self.source!r}, versions={sorted(self._keys)})"

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    @property
    def newest(self) -> MasterKey:
        return self._keys[max(self._keys)]

    def master_keys(self) -> list[MasterKey]:
        """Every version, oldest first (to write a key file that keeps them all)."""
        return [self._keys[v] for v in sorted(self._keys)]

    def only(self, versions: Iterable[int]) -> Keyring:
        """This keyring without the versions not in ``versions`` (at least one must remain)."""
        wanted = set(versions)
        return Keyring(
            [k for v, k in self._keys.items() if v in wanted],
            self.source,
            mismatch_hint=self.mismatch_hint,
        )

    def with_key(self, key: MasterKey) -> Keyring:
        """This keyring and ``key`` (a new, newer version)."""
        return Keyring([*self._keys.values(), key], self.source, mismatch_hint=self.mismatch_hint)

    def check_values(self) -> Mapping[int, bytes]:
        return {v: k.check_value() for v, k in self._keys.items()}

    def verify(self, stored: Mapping[int, bytes]) -> None:
        """Refuse unless every key version the database knows and this keyring holds matches."""
        if not stored:
            raise ConfigurationError(
                "the database has no master key registered; run `stacksafe init`"
            )
        shared = set(stored) & set(self._keys)
        if not shared:
            raise ConfigurationError(
                f"the master key from {self.source} does not belong to this database "
                f"(it holds versions {sorted(self._keys)}, the database knows {sorted(stored)})"
            )
        for version in sorted(shared):
            if not hmac.compare_digest(stored[version], self._keys[version].check_value()):
                hint = f": {self.mismatch_hint}" if self.mismatch_hint else ""
                raise ConfigurationError(
                    f"the master key version {version} from {self.source} is wrong for this "
                    f"database (key check value mismatch); nothing was read or written{hint}"
                )

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[int, bytes]:
        """Wrap a data key under the newest master key: (master-key version, nonce + sealed)."""
        version = self.newest.version
        nonce = os.urandom(_WRAP_NONCE)
        return version, nonce + self._aead[version].encrypt(nonce, data_key, aad)

    def unwrap(self, version: int, wrapped: bytes, aad: bytes) -> bytes:
        aead = self._aead.get(version)
        if aead is None:
            raise ConfigurationError(
                f"a data key is wrapped with master key version {version}, which {self.source} "
                f"does not provide (it holds {self.versions})"
            )
        if len(wrapped) < _WRAP_NONCE + _TAG:
            raise IntegrityError("a wrapped data key is truncated")
        try:
            data_key = aead.decrypt(wrapped[:_WRAP_NONCE], wrapped[_WRAP_NONCE:], aad)
        except InvalidTag:
            raise IntegrityError(
                "a wrapped data key failed authentication: it was tampered with or moved"
            ) from None
        if len(data_key) != KEY_SIZE:
            raise IntegrityError("a wrapped data key has the wrong length")
        return data_key


def _parse_key_line(line: str, source: str, lineno: int) -> MasterKey:
    version_text, sep, material_text = line.partition(":")
    if not sep:
        version_text, material_text = "1", line
    try:
        version = int(version_text)
        material = base64.b64decode(material_text.strip(), validate=True)
    except (ValueError, binascii.Error):
        raise ConfigurationError(
            f"{source}, entry {lineno}: expected '<version>:<base64 of 32 bytes>'"
        ) from None
    try:
        return MasterKey(version, material)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{source}, entry {lineno}: {exc.message}") from None


def keyring_from_text(text: str, source: str) -> Keyring:
    """Parse key material: entries ``<version>:<base64>`` separated by newlines or commas.

    A bare base64 string is version 1. Lines starting with ``#`` are comments.
    """
    entries = [
        part.strip()
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
        for part in line.split(",")
        if part.strip()
    ]
    return Keyring(
        (_parse_key_line(entry, source, n) for n, entry in enumerate(entries, 1)), source
    )


def keyring_from_file(path: Path) -> Keyring:
    source = f"key file {path}"
    try:
        text = read_private_file(path, "master key file").decode("ascii")
    except FileNotFoundError:
        raise ConfigurationError(
            f"master key file {path} does not exist; run `stacksafe init` or set "
            "STACKSAFE_MASTER_KEY_FILE / STACKSAFE_MASTER_KEY"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read master key file {path}: {exc}") from None
    return keyring_from_text(text, source)


def _key_file_text(keys: Iterable[MasterKey]) -> str:
    body = "".join(f"{k.version}:{base64.b64encode(k.material).decode('ascii')}\n" for k in keys)
    return (
        "# stacksafe master key. Keep it secret, and back it up apart from the database:\n"
        "# without it, no stored value can be decrypted.\n" + body
    )


def replace_key_file(path: Path, keys: Iterable[MasterKey]) -> None:
    """Replace a key file atomically (a new file, fsynced, renamed over the old one), owner-only:
    a crash leaves either the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    try:
        write_key_file(temporary, keys)
    except OSError as exc:
        raise ConfigurationError(f"cannot write next to master key file {path}: {exc}") from None
    try:
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigurationError(f"cannot replace master key file {path}: {exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_key_file(path: Path, keys: Iterable[MasterKey]) -> None:
    """Write a key file readable by its owner only; refuses to replace an existing file."""
    text = _key_file_text(keys)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(
            f"master key file {path} already exists; refusing to overwrite it"
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
