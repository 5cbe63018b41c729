"""Secrets as files: mode 0400, atomic, only changed files rewritten, stale ones removed, and
nothing removed that it did not write."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from stacksafe.core.materialize import MANIFEST, materialize
from stacksafe.errors import ConfigurationError, InvalidInput
from stacksafe.model import SecretValue


def values(**plain: str) -> dict[str, SecretValue]:
    return {k: SecretValue(v) for k, v in plain.items()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_one_read_only_file_per_key_in_a_private_directory(tmp_path: Path) -> None:
    target = tmp_path / "run" / "secrets"
    report = materialize(values(DB_PASSWORD="pw-1", API_KEY="key\nwith lines\n"), target)
    assert sorted(report.written) == ["API_KEY", "DB_PASSWORD"]
    assert (target / "DB_PASSWORD").read_text() == "pw-1"
    assert (target / "API_KEY").read_text() == "key\nwith lines\n"
    assert mode(target / "DB_PASSWORD") == 0o400
    assert mode(target) == 0o700
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST, "API_KEY", "DB_PASSWORD"]


def test_unchanged_files_are_left_alone_changed_ones_replaced_stale_ones_removed(
    tmp_path: Path,
) -> None:
    materialize(values(KEEP="same", CHANGE="old", GONE="bye"), tmp_path)
    (tmp_path / "USERS_FILE").write_text("not ours")
    keep_inode = (tmp_path / "KEEP").stat().st_ino
    change_inode = (tmp_path / "CHANGE").stat().st_ino

    report = materialize(values(KEEP="same", CHANGE="new", NEW="hello"), tmp_path)

    assert (report.written, report.unchanged, report.removed) == (
        ["CHANGE", "NEW"],
        ["KEEP"],
        ["GONE"],
    )
    assert (tmp_path / "KEEP").stat().st_ino == keep_inode
    assert (tmp_path / "CHANGE").stat().st_ino != change_inode  # replaced by rename, not edited
    assert (tmp_path / "CHANGE").read_text() == "new"
    assert not (tmp_path / "GONE").exists()
    assert (tmp_path / "USERS_FILE").read_text() == "not ours"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".stacksafe-tmp-")]


def test_a_symlink_in_place_of_a_file_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("precious")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "TOKEN").symlink_to(outside)
    materialize(values(TOKEN="t-1"), secrets_dir)
    assert outside.read_text() == "precious"
    assert not (secrets_dir / "TOKEN").is_symlink()
    assert (secrets_dir / "TOKEN").read_text() == "t-1"


def test_a_file_where_the_directory_should_be(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput, match="is not a directory"):
        materialize(values(K="v"), tmp_path / "file")
    # Under a file: the directory cannot be made (as root too, unlike a permission check).
    with pytest.raises(
        ConfigurationError, match=r"cannot write the secrets into .*: Not a directory"
    ):
        materialize(values(K="secret-value"), tmp_path / "file" / "secrets")


@pytest.mark.parametrize(
    ("shared_mode", "who"),
    [(0o777, "everyone"), (0o1777, "everyone"), (0o770, "its group"), (0o720, "its group")],
)
def test_a_directory_others_may_write_is_refused_and_left_as_it_was(
    tmp_path: Path, shared_mode: int, who: str
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(shared_mode)
    with pytest.raises(InvalidInput) as refused:
        materialize(values(TOKEN="secret-value"), shared)
    assert refused.value.message == (
        f"{shared} is writable by {who} (mode {shared_mode:04o}), who could replace the secret "
        f"files: use a directory only you can write (`chmod go-w {shared}`, or a new --dir); "
        "nothing was written"
    )
    assert list(shared.iterdir()) == []
    assert mode(shared) == shared_mode  # not ours to change (think of --dir /tmp)
    shared.chmod(0o755)  # readable by others is fine: the files themselves are 0400
    assert materialize(values(TOKEN="secret-value"), shared).written == ["TOKEN"]
