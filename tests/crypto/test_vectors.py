"""Known-answer vectors: they pin the on-disk format of values and wrapped data keys.

The vectors in ``tests/vectors/envelope_v1.json`` were computed once with ``cryptography``'s
AESGCM and an independent implementation of the associated-data framing. If one of these tests
fails, existing databases can no longer be decrypted: fix the code, not the vectors.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from stacksafe.crypto import (
    Binding,
    DataKey,
    DataKeyCache,
    Envelope,
    Keyring,
    MasterKey,
    Scope,
    ScopeKeys,
    decode_value,
    encode_value,
    keyring_from_text,
)
from stacksafe.errors import IntegrityError

_VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "envelope_v1.json").read_text(encoding="utf-8")
)
VALUES: list[dict[str, Any]] = _VECTORS["values"]
WRAPPED: list[dict[str, Any]] = _VECTORS["wrapped_data_keys"]


def _binding(vector: dict[str, Any]) -> Binding:
    return Binding(
        Scope(vector["account_uid"], vector["stack_uid"]), vector["key"], vector["version"]
    )


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


def test_vector_file_covers_the_required_cases() -> None:
    assert len(VALUES) >= 5
    assert any(v["stack_uid"] is None for v in VALUES)
    assert any(v["stack_uid"] is not None for v in VALUES)
    assert any(v["plaintext"] == "" for v in VALUES)
    assert any(not v["key"].isascii() and not v["plaintext"].isascii() for v in VALUES)
    assert any(v["stack_uid"] is None for v in WRAPPED)
    assert {v["master_key_version"] for v in WRAPPED} == {1, 2}


@pytest.mark.parametrize("vector", VALUES, ids=_ids(VALUES))
def test_value_vector_opens_to_its_plaintext(vector: dict[str, Any]) -> None:
    data_key = DataKey(vector["data_key_version"], bytes.fromhex(vector["data_key_hex"]))
    envelope = Envelope.from_bytes(bytes.fromhex(vector["envelope_hex"]))

    opened = data_key.open(envelope, _binding(vector))

    assert opened == bytes.fromhex(vector["plaintext_hex"])
    assert opened.decode("utf-8") == vector["plaintext"]


@pytest.mark.parametrize("vector", VALUES, ids=_ids(VALUES))
def test_value_vector_opens_through_scope_keys(vector: dict[str, Any]) -> None:
    """The reveal path's own parsing and associated data, against the stored format."""
    binding = _binding(vector)
    data_key = DataKey(vector["data_key_version"], bytes.fromhex(vector["data_key_hex"]))
    keys = ScopeKeys(binding.scope, [data_key])
    blob = decode_value(vector["value"])

    assert keys.open(blob, binding.key, binding.version) == bytes.fromhex(vector["plaintext_hex"])
    with pytest.raises(IntegrityError):
        keys.open(blob, binding.key, binding.version + 1)


@pytest.mark.parametrize("vector", VALUES, ids=_ids(VALUES))
def test_value_vector_envelope_fields(vector: dict[str, Any]) -> None:
    blob = bytes.fromhex(vector["envelope_hex"])
    envelope = Envelope.from_bytes(blob)

    assert envelope.format == 1
    assert envelope.data_key_version == vector["data_key_version"]
    assert envelope.nonce == bytes.fromhex(vector["nonce_hex"])
    assert envelope.header == bytes.fromhex(vector["header_hex"])
    assert Envelope.header_for(vector["data_key_version"]) == envelope.header
    assert len(envelope.ciphertext) == len(bytes.fromhex(vector["plaintext_hex"])) + 16
    assert envelope.to_bytes() == blob


@pytest.mark.parametrize("vector", VALUES, ids=_ids(VALUES))
def test_value_vector_associated_data_framing(vector: dict[str, Any]) -> None:
    header = bytes.fromhex(vector["header_hex"])
    assert _binding(vector).aad(header) == bytes.fromhex(vector["aad_hex"])


@pytest.mark.parametrize("vector", VALUES, ids=_ids(VALUES))
def test_value_vector_public_value_string(vector: dict[str, Any]) -> None:
    blob = bytes.fromhex(vector["envelope_hex"])

    assert encode_value(blob) == vector["value"]
    assert decode_value(vector["value"]) == blob
    assert vector["value"] == "encrypted:AES256:" + base64.b64encode(blob).decode("ascii")


@pytest.mark.parametrize("vector", VALUES, ids=_ids(VALUES))
def test_value_vector_refuses_a_neighbouring_binding(vector: dict[str, Any]) -> None:
    data_key = DataKey(vector["data_key_version"], bytes.fromhex(vector["data_key_hex"]))
    envelope = Envelope.from_bytes(bytes.fromhex(vector["envelope_hex"]))
    binding = _binding(vector)

    with pytest.raises(IntegrityError):
        data_key.open(envelope, Binding(binding.scope, binding.key, binding.version + 1))


@pytest.mark.parametrize("vector", WRAPPED, ids=_ids(WRAPPED))
def test_wrapped_vector_associated_data_framing(vector: dict[str, Any]) -> None:
    scope = Scope(vector["account_uid"], vector["stack_uid"])
    aad = scope.data_key_aad(vector["data_key_version"], vector["master_key_version"])
    assert aad == bytes.fromhex(vector["aad_hex"])


@pytest.mark.parametrize("vector", WRAPPED, ids=_ids(WRAPPED))
def test_wrapped_vector_unwraps_to_its_data_key(vector: dict[str, Any]) -> None:
    master = MasterKey(vector["master_key_version"], bytes.fromhex(vector["master_key_hex"]))
    keyring = Keyring([master], "test vectors")

    data_key = keyring.unwrap(
        vector["master_key_version"],
        bytes.fromhex(vector["wrapped_hex"]),
        bytes.fromhex(vector["aad_hex"]),
    )

    assert data_key == bytes.fromhex(vector["data_key_hex"])


@pytest.mark.parametrize("vector", WRAPPED, ids=_ids(WRAPPED))
def test_wrapped_vector_master_key_line_and_check_value(vector: dict[str, Any]) -> None:
    keyring = keyring_from_text(vector["master_key_line"], "test vectors")

    assert keyring.versions == [vector["master_key_version"]]
    assert keyring.newest.material == bytes.fromhex(vector["master_key_hex"])
    assert keyring.check_values() == {
        vector["master_key_version"]: bytes.fromhex(vector["key_check_value_hex"])
    }


def test_wrapped_vectors_open_value_vectors_through_the_cache() -> None:
    """End to end: the master keys of the vectors unwrap data keys that open the value vectors."""
    keyring = keyring_from_text(
        "\n".join(sorted({v["master_key_line"] for v in WRAPPED})), "test vectors"
    )
    cache = DataKeyCache(keyring)
    opened = 0
    for wrapped in WRAPPED:
        scope = Scope(wrapped["account_uid"], wrapped["stack_uid"])
        data_key = cache.unwrap(
            scope,
            wrapped["data_key_version"],
            wrapped["master_key_version"],
            bytes.fromhex(wrapped["wrapped_hex"]),
        )
        assert data_key.version == wrapped["data_key_version"]
        for value in VALUES:
            if (
                value["data_key_hex"] == wrapped["data_key_hex"]
                and value["data_key_version"] == wrapped["data_key_version"]
                and Scope(value["account_uid"], value["stack_uid"]) == scope
            ):
                envelope = Envelope.from_bytes(decode_value(value["value"]))
                plaintext = data_key.open(envelope, _binding(value))
                assert plaintext.decode("utf-8") == value["plaintext"]
                opened += 1
    assert opened >= 4
