"""A master key file (or passphrase file) others may read or write is refused, as ssh refuses
an unprotected private key (issue 17, item 7): naming the file, its mode and the chmod."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stacksafe.crypto import generate_master_key, keyring_from_file, write_key_file
from stacksafe.crypto.private_file import read_private_file
from stacksafe.errors import ConfigurationError


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "master.key"
    write_key_file(path, [generate_master_key()])
    return path


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        (0o644, "readable by other users"),
        (0o640, "readable by other users"),
        (0o604, "readable by other users"),
        (0o620, "writable by other users"),
        (0o666, "readable by other users"),
        (0o610, "open to other users"),
    ],
)
def test_a_key_file_open_to_others_is_refused_with_the_fix(
    key_file: Path, mode: int, said: str
) -> None:
    key_file.chmod(mode)
    with pytest.raises(ConfigurationError) as refused:
        keyring_from_file(key_file)
    message = refused.value.message
    assert message.startswith(f"master key file {key_file} is {said} (mode {mode:04o}); ")
    assert message.endswith(f"run `chmod 600 {key_file}`; nothing was read")
    assert key_file.stat().st_mode & 0o777 == mode  # refused, not silently changed


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_key_file_is_read(key_file: Path, mode: int) -> None:
    key_file.chmod(mode)
    assert keyring_from_file(key_file).versions == [1]


def test_a_file_another_user_owns_is_theirs_to_protect(tmp_path: Path) -> None:
    # As ssh: only the caller's own files are held to it (a root-owned secrets volume is not).
    path = tmp_path / "theirs.key"
    path.write_bytes(b"material")
    path.chmod(0o644)
    if os.getuid() != 0:
        assert path.stat().st_uid == os.getuid()
        with pytest.raises(ConfigurationError):
            read_private_file(path, "key")
        return
    os.chown(path, 65534, 65534)  # nobody
    assert read_private_file(path, "key") == b"material"


def test_a_path_with_spaces_gets_a_chmod_that_works(tmp_path: Path) -> None:
    path = tmp_path / "my keys" / "master.key"
    path.parent.mkdir()
    write_key_file(path, [generate_master_key()])
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match=r"run `chmod 600 '.*/my keys/master\.key'`"):
        keyring_from_file(path)
