"""Offline snapshots: sealed under the token or a passphrase, bound to server and stack, and
refused when altered, misplaced or too old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stacksafe.core.offline import load_snapshot, save_snapshot, snapshot_path
from stacksafe.errors import ConfigurationError, IntegrityError
from stacksafe.model import SecretValue

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ADDR = "https://stacksafe.example:8200"
TOKEN = "ssk_" + "x" * 43
VALUES = {"DB_PASSWORD": SecretValue("pw-\n-ü"), "EMPTY": SecretValue("")}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def plain(values: dict[str, SecretValue]) -> dict[str, str]:
    return {k: v.reveal() for k, v in values.items()}


@pytest.mark.parametrize(
    ("kind", "secret"), [("token", TOKEN), ("passphrase", "a long passphrase")]
)
def test_round_trip_private_file_and_no_plaintext(kind: str, secret: str, cache: Path) -> None:
    path = save_snapshot(VALUES, ADDR, "web", kind, secret, NOW)
    assert path == snapshot_path(ADDR, "web")
    assert path.is_relative_to(cache)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert b"pw-" not in path.read_bytes()
    loaded = load_snapshot(ADDR, "web", secret, timedelta(days=7), NOW + timedelta(days=1))
    assert plain(loaded.values) == plain(VALUES)
    assert loaded.created_at == "2030-01-01T12:00:00Z"
    assert "pw-" not in repr(loaded)


def test_wrong_secret_other_stack_tampering_and_age_are_refused() -> None:
    path = save_snapshot(VALUES, ADDR, "web", "token", TOKEN, NOW)
    week = timedelta(days=7)
    with pytest.raises(IntegrityError, match="sealed with another token or passphrase"):
        load_snapshot(ADDR, "web", TOKEN + "y", week, NOW)
    # The same file presented as another stack's (or server's) snapshot does not open.
    other = snapshot_path(ADDR, "api")
    other.write_bytes(path.read_bytes())
    with pytest.raises(IntegrityError, match="for another server or stack"):
        load_snapshot(ADDR, "api", TOKEN, week, NOW)
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="damaged"):
        load_snapshot(ADDR, "web", TOKEN, week, NOW)
    save_snapshot(VALUES, ADDR, "web", "token", TOKEN, NOW)
    with pytest.raises(ConfigurationError, match="older than the maximum age"):
        load_snapshot(ADDR, "web", TOKEN, week, NOW + timedelta(days=8))
    with pytest.raises(ConfigurationError, match="no offline snapshot of 'db' yet"):
        load_snapshot(ADDR, "db", TOKEN, week, NOW)


def test_stacks_of_the_same_name_in_two_accounts_keep_apart() -> None:
    save_snapshot({"K": SecretValue("acme's")}, ADDR, "web", "token", TOKEN, NOW, account="acme")
    save_snapshot({"K": SecretValue("beta's")}, ADDR, "web", "token", TOKEN, NOW, account="beta")
    week = timedelta(days=7)
    acme = load_snapshot(ADDR, "web", TOKEN, week, NOW, account="acme")
    beta = load_snapshot(ADDR, "web", TOKEN, week, NOW, account="beta")
    assert (acme.values["K"].reveal(), beta.values["K"].reveal()) == ("acme's", "beta's")
