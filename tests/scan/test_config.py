"""Scan settings: .stacksafe-scan.toml read strictly, one-line errors naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacksafe.errors import InvalidInput
from stacksafe.scan.config import DEFAULT_NAME, ScanConfig

RULE_IDS = ["aws-access-key", "private-key"]


def RULES() -> list[str]:  # the catalogue's ids, as the CLI hands them
    return RULE_IDS


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / DEFAULT_NAME
    path.write_text(text)
    return path


def test_disable_and_exclude(tmp_path: Path) -> None:
    path = write(tmp_path, 'disable = ["private-key"]\nexclude = ["fixtures/**"]\n')
    assert ScanConfig.load(path, RULES) == ScanConfig(("private-key",), ("fixtures/**",))


def test_the_default_file_is_found_in_the_root_and_optional(tmp_path: Path) -> None:
    assert ScanConfig.find(None, tmp_path, RULES) == ScanConfig()
    write(tmp_path, 'disable = ["aws-access-key"]\n')
    assert ScanConfig.find(None, tmp_path, RULES).disable == ("aws-access-key",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('disable = ["no-such-rule"]\n', "disable names no rule: no-such-rule"),
        ('disabled = ["private-key"]\n', "unknown setting 'disabled'"),
        ('disable = "private-key"\n', "disable must be a list of non-empty strings"),
        ('exclude = [""]\n', "exclude must be a list of non-empty strings"),
        ("disable = [\n", "are not TOML"),
    ],
)
def test_bad_settings_are_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidInput, match=message) as caught:
        ScanConfig.load(path, RULES)
    assert "\n" not in str(caught.value)


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read scan settings"):
        ScanConfig.find(tmp_path / "missing.toml", tmp_path, RULES)


def test_non_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_NAME
    path.write_bytes(b"disable = ['\xff']\n")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        ScanConfig.load(path, RULES)


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_NAME
    path.write_bytes(b'\xef\xbb\xbfdisable = ["private-key"]\n')
    assert ScanConfig.load(path, RULES).disable == ("private-key",)


@pytest.mark.parametrize(
    "name",
    [
        "xoxb-1234567890-1234567890123-Zq8Lw2Xv9Rt4Yp6Nm3KbQw7E",
        "ghp_Zq8Lw2Xv9Rt4Yp6Nm3KbQw7Eabcdefghij0123",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ],
)
def test_a_refused_name_shaped_like_a_secret_is_not_quoted(tmp_path: Path, name: str) -> None:
    for text in (f'disable = ["{name}"]\n', f'"{name}" = 1\n'):
        with pytest.raises(InvalidInput, match="not shown") as caught:
            ScanConfig.load(write(tmp_path, text), RULES)
        assert name not in str(caught.value)
