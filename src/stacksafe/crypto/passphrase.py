"""Master keys derived from a passphrase: Argon2id (RFC 9106) with parameters kept in a file.

The parameters (a random salt, the cost settings) are not secret, but the same passphrase derives
the same key only with the same ones, so ``init`` writes them to a small JSON file
(``master.key.params``) that must be kept with the database. A wrong passphrase derives another
key, which the database's key check value refuses before anything is read or written.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from stacksafe.crypto.keyring import KEY_SIZE, Keyring, MasterKey
from stacksafe.errors import ConfigurationError

__all__ = [
    "MIN_PASSPHRASE_CHARS",
    "KdfParams",
    "derive_master_key",
    "keyring_from_passphrase",
    "new_kdf_params",
    "read_kdf_params",
    "write_kdf_params",
]

_FORMAT = "stacksafe master key params v1"
_KDF = "argon2id"
# RFC 9106, section 4, second recommended option: 3 passes, 4 lanes, 64 MiB (its cost, paid once
# per process start: bench/README.md).
ITERATIONS = 3
LANES = 4
MEMORY_KIB = 64 * 1024
SALT_SIZE = 16
MIN_PASSPHRASE_CHARS = 12
# Bounds on what a params file may ask for: a corrupted or hostile file must not make every
# start spend minutes or gigabytes.
_LIMITS = {"iterations": (1, 10), "lanes": (1, 64), "memory_kib": (8, 1024 * 1024)}


@dataclass(frozen=True, slots=True)
class KdfParams:
    """How a passphrase becomes master key ``version``: Argon2id's salt and costs."""

    salt: bytes
    iterations: int = ITERATIONS
    lanes: int = LANES
    memory_kib: int = MEMORY_KIB
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "kdf": _KDF,
            "master_key_version": self.version,
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "iterations": self.iterations,
            "lanes": self.lanes,
            "memory_kib": self.memory_kib,
        }


def new_kdf_params() -> KdfParams:
    return KdfParams(os.urandom(SALT_SIZE))


def _normalised(passphrase: str, source: str) -> bytes:
    # NFC: the same passphrase typed on systems that compose accents differently is one key.
    if not passphrase:
        raise ConfigurationError(f"{source} is empty; a master key passphrase is required")
    try:
        return unicodedata.normalize("NFC", passphrase).encode("utf-8")
    except UnicodeEncodeError:
        # Bytes that are not UTF-8 in the environment arrive as lone surrogates.
        raise ConfigurationError(f"{source} is not valid UTF-8 text") from None


def derive_master_key(passphrase: str, params: KdfParams, source: str) -> MasterKey:
    kdf = Argon2id(
        salt=params.salt,
        length=KEY_SIZE,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return MasterKey(params.version, kdf.derive(_normalised(passphrase, source)))


def keyring_from_passphrase(passphrase: str, params_file: Path, source: str) -> Keyring:
    params = read_kdf_params(params_file)
    return Keyring(
        [derive_master_key(passphrase, params, source)],
        source,
        mismatch_hint=(
            f"the passphrase is wrong, or {params_file} belongs to another installation"
        ),
    )


def _field(data: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        kind_name = "an integer" if kind is int else "a string"
        raise ConfigurationError(f"{where}: {name!r} is missing or not {kind_name}")
    return value


def read_kdf_params(path: Path) -> KdfParams:
    """The parameters in ``path``, checked; every problem is a ConfigurationError naming it."""
    where = f"master key parameters file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"{where} does not exist: the master key is derived from the passphrase with the salt "
            "and costs it holds. Restore it from the backup of this installation (`stacksafe "
            "init` wrote it), or point STACKSAFE_MASTER_KEY_PARAMS_FILE at it"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {where}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{where} is not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ConfigurationError(f"{where} is not a stacksafe parameters file ({_FORMAT!r})")
    if data.get("kdf") != _KDF:
        raise ConfigurationError(f"{where}: unsupported kdf {data.get('kdf')!r}; expected {_KDF!r}")
    try:
        salt = base64.b64decode(_field(data, "salt", str, where), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{where}: 'salt' is not valid base64") from None
    if len(salt) < SALT_SIZE:
        raise ConfigurationError(f"{where}: 'salt' is {len(salt)} bytes; at least {SALT_SIZE}")
    costs = {name: _field(data, name, int, where) for name in _LIMITS}
    for name, (low, high) in _LIMITS.items():
        if not low <= costs[name] <= high:
            raise ConfigurationError(f"{where}: {name!r} must be between {low} and {high}")
    if costs["memory_kib"] < 8 * costs["lanes"]:
        raise ConfigurationError(f"{where}: 'memory_kib' must be at least 8 times 'lanes'")
    version = _field(data, "master_key_version", int, where)
    if version < 1:
        raise ConfigurationError(f"{where}: 'master_key_version' starts at 1")
    return KdfParams(salt, costs["iterations"], costs["lanes"], costs["memory_kib"], version)


def write_kdf_params(path: Path, params: KdfParams) -> None:
    """Write a parameters file; refuses to replace an existing one (it would change the key)."""
    text = json.dumps(params.to_json(), indent=2) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(
            f"master key parameters file {path} already exists; refusing to overwrite it "
            "(the passphrase would derive another key): remove it or point "
            "STACKSAFE_MASTER_KEY_PARAMS_FILE elsewhere"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot write master key parameters file {path}: {exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
