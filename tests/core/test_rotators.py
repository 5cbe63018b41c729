"""The rotators' pure parts: next values of connection strings, and what errors may show."""

from __future__ import annotations

import pytest

from stacksafe.core.rotators import RotationFailed, Rotator, validate_config
from stacksafe.model import SecretValue

PG = validate_config("postgres", {"admin_key": "ADMIN", "roles": ["app_a", "app_b"]})


def test_the_next_value_connects_as_the_other_role_with_a_new_password() -> None:
    rotator = Rotator("postgres", PG)
    url = rotator.new_value(
        SecretValue("postgresql://app_a:old@db.example:5432/app?sslmode=require")
    )
    text = url.reveal()
    assert text.startswith("postgresql://app_b:")
    assert text.endswith("@db.example:5432/app?sslmode=require")
    assert ":old@" not in text
    back = rotator.new_value(url).reveal()
    assert back.startswith("postgresql://app_a:")
    conninfo = rotator.new_value(SecretValue("host=db.example user=app_b password=old dbname=app"))
    assert "user=app_a" in conninfo.reveal()
    assert "password=old" not in conninfo.reveal()


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://db.example/app?user=app_a&password=old",
        "postgresql://app_a:old@db.example/app?user=app_a",
        "postgresql://app_a:old@db.example/app?password=old",
    ],
)
def test_credentials_in_the_query_string_are_refused_not_half_rotated(value: str) -> None:
    with pytest.raises(RotationFailed, match="user and password belong in the userinfo") as caught:
        Rotator("postgres", PG).new_value(SecretValue(value))
    assert "old" not in str(caught.value)


def test_webhook_urls_show_only_scheme_and_host() -> None:
    config = validate_config(
        "webhook", {"url": "https://hooks.example/services/T000/B000/XXXXSECRET?token=abc"}
    )
    shown = Rotator("webhook", config).public_config()
    assert shown["url"] == "https://hooks.example/…"
    assert "XXXXSECRET" not in str(shown)
