"""Passphrase-derived master keys: Argon2id with stored parameters, and the parameters file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from stacksafe.crypto.passphrase import (
    KdfParams,
    derive_master_key,
    new_kdf_params,
    read_kdf_params,
    write_kdf_params,
)
from stacksafe.errors import ConfigurationError

# Small costs keep these tests fast; the defaults are checked separately.
CHEAP = {"iterations": 1, "lanes": 1, "memory_kib": 64}
SOURCE = "the passphrase in a test"


def test_the_same_passphrase_and_parameters_derive_the_same_key() -> None:
    params = KdfParams(b"s" * 16, **CHEAP)
    first = derive_master_key("correct horse battery staple", params, SOURCE)
    again = derive_master_key("correct horse battery staple", params, SOURCE)
    assert first.material == again.material
    assert first.version == 1
    assert len(first.material) == 32
    other_salt = KdfParams(b"t" * 16, **CHEAP)
    assert derive_master_key("correct horse battery staple", other_salt, SOURCE) != first
    assert derive_master_key("correct horse battery stapler", params, SOURCE) != first
    assert "correct" not in repr(first)


def test_known_answer_pins_the_derivation() -> None:
    """Argon2id, RFC 9106 parameters as stored, the passphrase NFC-normalised UTF-8."""
    params = KdfParams(bytes(range(16)), iterations=1, lanes=1, memory_kib=64)
    key = derive_master_key("pass\u0065\u0301phrase", params, SOURCE)  # e + combining acute
    composed = derive_master_key("pass\u00e9phrase", params, SOURCE)
    assert key.material == composed.material
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    expected = Argon2id(
        salt=bytes(range(16)), length=32, iterations=1, lanes=1, memory_cost=64
    ).derive("pass\u00e9phrase".encode())
    assert key.material == expected


def test_an_empty_passphrase_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="is empty"):
        derive_master_key("", KdfParams(b"s" * 16, **CHEAP), SOURCE)


def test_parameters_round_trip_through_their_file(tmp_path: Path) -> None:
    params = new_kdf_params()
    assert (params.iterations, params.lanes, params.memory_kib) == (3, 4, 65536)
    assert len(params.salt) == 16
    path = tmp_path / "master.key.params"
    write_kdf_params(path, params)
    assert read_kdf_params(path) == params
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["kdf"] == "argon2id"
    with pytest.raises(ConfigurationError, match="already exists; refusing to overwrite"):
        write_kdf_params(path, new_kdf_params())
    assert read_kdf_params(path) == params


def test_a_missing_parameters_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"master\.key\.params does not exist.*Restore it"):
        read_kdf_params(tmp_path / "master.key.params")


GOOD = KdfParams(b"s" * 16, **CHEAP).to_json()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a stacksafe parameters file"),
        (json.dumps({**GOOD, "format": "other"}), "not a stacksafe parameters file"),
        (json.dumps({**GOOD, "kdf": "pbkdf2"}), "unsupported kdf 'pbkdf2'"),
        (json.dumps({**GOOD, "salt": "***"}), "'salt' is not valid base64"),
        (json.dumps({**GOOD, "salt": "c2FsdA=="}), "'salt' is 4 bytes"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "lanes"}), "'lanes' is missing"),
        (json.dumps({**GOOD, "iterations": "3"}), "'iterations' is missing or not an integer"),
        (json.dumps({**GOOD, "iterations": True}), "'iterations' is missing or not an integer"),
        (json.dumps({**GOOD, "memory_kib": 2**40}), "'memory_kib' must be between"),
        (json.dumps({**GOOD, "lanes": 16, "memory_kib": 64}), "at least 8 times 'lanes'"),
        (json.dumps({**GOOD, "master_key_version": 0}), "'master_key_version' starts at 1"),
    ],
)
def test_a_corrupt_parameters_file_is_a_clear_error(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = tmp_path / "master.key.params"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        read_kdf_params(path)
    assert complaint in caught.value.message
    assert str(path) in caught.value.message
