"""Master keys: parsing key text and files, verification against the database, wrapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacksafe.crypto import (
    DataKey,
    Keyring,
    MasterKey,
    Scope,
    generate_master_key,
    keyring_from_file,
    keyring_from_text,
    write_key_file,
)
from stacksafe.crypto.keyring import KEY_SIZE
from stacksafe.errors import ConfigurationError, IntegrityError

SOURCE = "environment variable STACKSAFE_MASTER_KEY"


def _material(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


K1 = _material("master one")
K2 = _material("master two")
K3 = _material("master three")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# 32 bytes whose URL-safe encoding ends in "-_8=" (standard alphabet: "+/8=")
URLSAFE_K1 = base64.urlsafe_b64encode(K1[:30] + b"\xfb\xff").decode("ascii")


def _forms(raw: bytes) -> list[str]:
    """Every textual form in which key material could leak into a message or repr."""
    return [
        _b64(raw),
        _b64(raw).rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
        raw.hex(),
        raw.hex().upper(),
        repr(raw),
        str(list(raw)),
    ]


def _assert_no_material(text: str, *materials: bytes) -> None:
    for raw in materials:
        for form in _forms(raw):
            assert form not in text


# --------------------------------------------------------------------------- parsing


def test_bare_base64_is_version_1() -> None:
    keyring = keyring_from_text(_b64(K1), SOURCE)

    assert keyring.versions == [1]
    assert keyring.newest == MasterKey(1, K1)
    assert keyring.source == SOURCE


def test_bare_base64_with_surrounding_whitespace() -> None:
    keyring = keyring_from_text(f"  {_b64(K1)}  \n\n", SOURCE)
    assert keyring.newest == MasterKey(1, K1)


@pytest.mark.parametrize("text", [f"1:{_b64(K1)}", f" 1 : {_b64(K1)} ", f"1:{_b64(K1)}\r\n"])
def test_versioned_entry(text: str) -> None:
    keyring = keyring_from_text(text, SOURCE)
    assert keyring.versions == [1]
    assert keyring.newest.material == K1


def test_versioned_entry_with_a_later_version() -> None:
    keyring = keyring_from_text(f"7:{_b64(K1)}", SOURCE)
    assert keyring.versions == [7]
    assert keyring.newest == MasterKey(7, K1)


def test_entries_separated_by_newlines_and_commas() -> None:
    text = f"1:{_b64(K1)}, 2:{_b64(K2)}\n3:{_b64(K3)}\n"
    keyring = keyring_from_text(text, SOURCE)

    assert keyring.versions == [1, 2, 3]
    assert keyring.newest == MasterKey(3, K3)
    assert keyring.check_values() == {
        1: MasterKey(1, K1).check_value(),
        2: MasterKey(2, K2).check_value(),
        3: MasterKey(3, K3).check_value(),
    }


def test_entries_may_be_listed_in_any_order() -> None:
    keyring = keyring_from_text(f"3:{_b64(K3)},1:{_b64(K1)},2:{_b64(K2)}", SOURCE)
    assert keyring.versions == [1, 2, 3]
    assert keyring.newest.version == 3


def test_comments_and_blank_lines_are_ignored() -> None:
    text = (
        "# stacksafe master key\n"
        "   # an indented comment, 9:not-a-key\n"
        "\n"
        f"2:{_b64(K2)}\n"
        "#1:" + _b64(K1) + "\n"
    )
    keyring = keyring_from_text(text, SOURCE)
    assert keyring.versions == [2]
    assert keyring.newest.material == K2


@pytest.mark.parametrize("size", [0, 1, 16, 31, 33, 64])
def test_wrong_length_is_refused_without_showing_the_key(size: int) -> None:
    raw = bytes(range(100, 100 + size))
    text = f"1:{_b64(raw)}"
    with pytest.raises(ConfigurationError) as caught:
        keyring_from_text(text, SOURCE)

    message = str(caught.value)
    assert f"{size} bytes" in message
    assert "32 bytes" in message
    if raw:
        _assert_no_material(message, raw)


def test_wrong_length_error_names_the_key_source() -> None:
    with pytest.raises(ConfigurationError) as caught:
        keyring_from_text(f"1:{_b64(K1[:16])}", SOURCE)
    assert SOURCE in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        f"1:{_b64(K1)[:-1]}",  # broken padding
        f"1:{_b64(K1).replace('=', '')}",  # no padding
        f"1:{URLSAFE_K1}",  # URL-safe alphabet
        f"1:{_b64(K1)[:20]} {_b64(K1)[20:]}",  # whitespace inside
        f"1:{_b64(K1)[:-2]}é=",  # non-ASCII
        "1:!!!!",
        f"{_b64(K1)[:10]}",  # a bare, truncated key
    ],
)
def test_bad_base64_is_refused_without_showing_the_key(text: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        keyring_from_text(text, SOURCE)

    message = str(caught.value)
    assert SOURCE in message
    _assert_no_material(message, K1)
    assert _b64(K1)[:10] not in message


@pytest.mark.parametrize("version", ["x", "one", "1.0", ""])
def test_bad_version_is_refused(version: str) -> None:
    with pytest.raises(ConfigurationError, match="<version>:<base64 of 32 bytes>") as caught:
        keyring_from_text(f"{version}:{_b64(K1)}", SOURCE)
    assert SOURCE in str(caught.value)
    _assert_no_material(str(caught.value), K1)


@pytest.mark.parametrize("version", [0, -1])
def test_versions_start_at_1(version: int) -> None:
    with pytest.raises(ConfigurationError, match="start at 1"):
        keyring_from_text(f"{version}:{_b64(K1)}", SOURCE)


def test_entry_number_of_a_bad_entry_is_reported() -> None:
    with pytest.raises(ConfigurationError, match="entry 2"):
        keyring_from_text(f"1:{_b64(K1)}, 2:not*base64", SOURCE)


@pytest.mark.parametrize(
    "text",
    [
        f"1:{_b64(K1)}\n1:{_b64(K2)}",
        f"1:{_b64(K1)},1:{_b64(K1)}",
        f"{_b64(K1)}\n1:{_b64(K2)}",  # a bare key is version 1 too
    ],
)
def test_duplicate_versions_are_refused(text: str) -> None:
    with pytest.raises(ConfigurationError, match="version 1 twice") as caught:
        keyring_from_text(text, SOURCE)
    assert SOURCE in str(caught.value)
    _assert_no_material(str(caught.value), K1, K2)


@pytest.mark.parametrize("text", ["", "\n\n", "   ", ",,", "# only a comment\n", " , \n # x"])
def test_empty_key_text_is_refused(text: str) -> None:
    with pytest.raises(ConfigurationError, match="holds no master key") as caught:
        keyring_from_text(text, SOURCE)
    assert SOURCE in str(caught.value)


def test_keyring_of_no_keys_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="holds no master key"):
        Keyring([], SOURCE)


def test_parse_errors_do_not_chain_the_key_text() -> None:
    with pytest.raises(ConfigurationError) as caught:
        keyring_from_text(f"v1:{_b64(K1)}", SOURCE)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# --------------------------------------------------------------------------- MasterKey


def test_generate_master_key() -> None:
    first = generate_master_key()
    second = generate_master_key(4)

    assert first.version == 1
    assert second.version == 4
    assert len(first.material) == len(second.material) == KEY_SIZE
    assert first.material != second.material


def test_check_value_is_hmac_sha256_of_the_label() -> None:
    expected = hmac.new(K1, b"stacksafe key check value v1", hashlib.sha256).digest()
    assert MasterKey(1, K1).check_value() == expected
    assert MasterKey(1, K2).check_value() != expected
    # the check value does not depend on the version number, only on the material
    assert MasterKey(5, K1).check_value() == expected


# --------------------------------------------------------------------------- verify


def test_verify_accepts_matching_check_values() -> None:
    keyring = Keyring([MasterKey(1, K1), MasterKey(2, K2)], SOURCE)
    keyring.verify(keyring.check_values())
    keyring.verify({1: MasterKey(1, K1).check_value()})
    # the database may know versions this keyring no longer holds, and vice versa
    keyring.verify({2: MasterKey(2, K2).check_value(), 9: b"\x00" * 32})


def test_verify_refuses_a_wrong_key_naming_the_source() -> None:
    keyring = Keyring([MasterKey(1, K2)], SOURCE)
    with pytest.raises(ConfigurationError) as caught:
        keyring.verify({1: MasterKey(1, K1).check_value()})

    message = str(caught.value)
    assert SOURCE in message
    assert "mismatch" in message
    assert "version 1" in message
    _assert_no_material(message, K1, K2)


def test_verify_refuses_when_any_shared_version_mismatches() -> None:
    keyring = Keyring([MasterKey(1, K1), MasterKey(2, K3)], SOURCE)
    stored = {1: MasterKey(1, K1).check_value(), 2: MasterKey(2, K2).check_value()}
    with pytest.raises(ConfigurationError, match="version 2"):
        keyring.verify(stored)


def test_verify_refuses_disjoint_versions() -> None:
    keyring = Keyring([MasterKey(3, K3)], SOURCE)
    with pytest.raises(ConfigurationError) as caught:
        keyring.verify({1: MasterKey(1, K1).check_value(), 2: MasterKey(2, K2).check_value()})

    message = str(caught.value)
    assert SOURCE in message
    assert "does not belong to this database" in message
    assert "[3]" in message
    assert "[1, 2]" in message


def test_verify_refuses_an_empty_database() -> None:
    keyring = Keyring([MasterKey(1, K1)], SOURCE)
    with pytest.raises(ConfigurationError, match="stacksafe init"):
        keyring.verify({})


# --------------------------------------------------------------------------- wrap / unwrap

AAD = Scope("account", "stack").data_key_aad(1, 1)


def test_newest_key_is_used_to_wrap() -> None:
    keyring = Keyring([MasterKey(2, K2), MasterKey(3, K3), MasterKey(1, K1)], SOURCE)
    data_key = _material("data key")

    version, wrapped = keyring.wrap(data_key, AAD)

    assert version == 3
    assert len(wrapped) == 12 + KEY_SIZE + 16
    only_newest = Keyring([MasterKey(3, K3)], SOURCE)
    assert only_newest.unwrap(3, wrapped, AAD) == data_key
    older = Keyring([MasterKey(1, K1), MasterKey(2, K2)], SOURCE)
    for claimed in (1, 2):
        with pytest.raises(IntegrityError):
            older.unwrap(claimed, wrapped, AAD)


def test_older_versions_still_unwrap() -> None:
    old = Keyring([MasterKey(1, K1)], SOURCE)
    version, wrapped = old.wrap(_material("data key"), AAD)
    rotated = Keyring([MasterKey(1, K1), MasterKey(2, K2)], SOURCE)

    assert version == 1
    assert rotated.unwrap(1, wrapped, AAD) == _material("data key")
    assert rotated.wrap(_material("data key"), AAD)[0] == 2


def test_wrap_uses_a_fresh_nonce_each_time() -> None:
    keyring = Keyring([MasterKey(1, K1)], SOURCE)
    wrapped = {keyring.wrap(_material("data key"), AAD)[1] for _ in range(50)}
    assert len(wrapped) == 50
    assert len({w[:12] for w in wrapped}) == 50


def test_unwrap_with_an_unknown_master_version_is_a_configuration_error() -> None:
    keyring = Keyring([MasterKey(1, K1), MasterKey(2, K2)], SOURCE)
    _, wrapped = keyring.wrap(_material("data key"), AAD)
    with pytest.raises(ConfigurationError) as caught:
        keyring.unwrap(5, wrapped, AAD)

    message = str(caught.value)
    assert "version 5" in message
    assert SOURCE in message
    assert "[1, 2]" in message


def test_unwrap_with_other_associated_data_is_refused() -> None:
    keyring = Keyring([MasterKey(1, K1)], SOURCE)
    _, wrapped = keyring.wrap(_material("data key"), AAD)
    with pytest.raises(IntegrityError, match="tampered with or moved"):
        keyring.unwrap(1, wrapped, Scope("account", None).data_key_aad(1, 1))


def test_unwrap_with_the_wrong_master_key_material_is_refused() -> None:
    _, wrapped = Keyring([MasterKey(1, K1)], SOURCE).wrap(_material("data key"), AAD)
    with pytest.raises(IntegrityError):
        Keyring([MasterKey(1, K2)], SOURCE).unwrap(1, wrapped, AAD)


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_unwrapped_data_key_of_the_wrong_length_is_refused(size: int) -> None:
    keyring = Keyring([MasterKey(1, K1)], SOURCE)
    _, wrapped = keyring.wrap(b"\x07" * size, AAD)
    with pytest.raises(IntegrityError, match="wrong length"):
        keyring.unwrap(1, wrapped, AAD)


# --------------------------------------------------------------------------- repr


def test_reprs_never_show_key_material() -> None:
    master = MasterKey(1, K1)
    keyring = Keyring([master, MasterKey(2, K2)], SOURCE)
    data_key_material = _material("data key")
    data_key = DataKey(3, data_key_material)

    texts = [
        repr(master),
        str(master),
        repr(keyring),
        str(keyring),
        repr(keyring.newest),
        repr(data_key),
        str(data_key),
        f"{master!r} {keyring} {data_key}",
    ]
    for text in texts:
        _assert_no_material(text, K1, K2, data_key_material)

    assert repr(master) == "MasterKey(version=1)"
    assert repr(keyring) == f"Keyring(source={SOURCE!r}, versions=[1, 2])"
    assert repr(data_key) == "DataKey(version=3)"


# --------------------------------------------------------------------------- key files


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Umask 0, so a mode of 0600 must come from the code, not from the environment."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_write_key_file_is_owner_only_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    keys = [MasterKey(1, K1), MasterKey(2, K2)]

    write_key_file(path, keys)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyring = keyring_from_file(path)
    assert keyring.versions == [1, 2]
    assert keyring.newest == MasterKey(2, K2)
    assert keyring.check_values() == {k.version: k.check_value() for k in keys}
    assert keyring.source == f"key file {path}"
    text = path.read_text(encoding="ascii")
    assert text.startswith("#")
    assert f"1:{_b64(K1)}\n" in text


def test_write_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, [MasterKey(1, K1)])
    before = path.read_bytes()

    with pytest.raises(ConfigurationError, match="refusing to overwrite") as caught:
        write_key_file(path, [MasterKey(1, K2)])

    assert str(path) in str(caught.value)
    assert path.read_bytes() == before
    assert keyring_from_file(path).newest.material == K1


def test_write_key_file_refuses_to_replace_any_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text("something else\n", encoding="ascii")

    with pytest.raises(ConfigurationError):
        write_key_file(path, [MasterKey(1, K1)])
    assert path.read_text(encoding="ascii") == "something else\n"


def test_keyring_from_missing_file_suggests_stacksafe_init(tmp_path: Path) -> None:
    path = tmp_path / "absent.key"
    with pytest.raises(ConfigurationError) as caught:
        keyring_from_file(path)

    message = str(caught.value)
    assert "`stacksafe init`" in message
    assert str(path) in message
    assert "STACKSAFE_MASTER_KEY" in message


def test_keyring_from_unreadable_path_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read master key file"):
        keyring_from_file(tmp_path)


def test_keyring_from_non_ascii_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"1:\xc3\xa9\n")
    path.chmod(0o600)  # private, so what is refused is the content (tests/crypto/test_private_file)
    with pytest.raises(ConfigurationError, match="cannot read master key file"):
        keyring_from_file(path)


def test_errors_from_a_key_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(f"1:{_b64(K1)}\n1:{_b64(K2)}\n", encoding="ascii")
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match="twice") as caught:
        keyring_from_file(path)
    assert str(path) in str(caught.value)


def test_key_file_mismatch_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, [MasterKey(1, K2)])
    keyring = keyring_from_file(path)

    with pytest.raises(ConfigurationError) as caught:
        keyring.verify({1: MasterKey(1, K1).check_value()})
    assert f"key file {path}" in str(caught.value)
    assert "mismatch" in str(caught.value)
