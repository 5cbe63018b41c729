"""Plaintext is held masked: repr, str, formatting and pickling never show it."""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from stacksafe.model import Secret, SecretValue, iso8601


def test_secret_value_is_masked_everywhere_but_reveal(caplog: pytest.LogCaptureFixture) -> None:
    value = SecretValue("hunter2-password")
    assert value.reveal() == "hunter2-password"
    shown = [repr(value), str(value), f"{value}", f"{value!r}", "%s" % value, repr([value])]  # noqa: UP031
    assert all("hunter2" not in s for s in shown)
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("value %s %r", value, value)
    assert "hunter2" not in caplog.text


def test_secret_value_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(SecretValue("x"))


def test_secret_repr_hides_the_raw_value() -> None:
    now = datetime.now(UTC)
    secret = Secret("K", "encrypted:AES256:AA==", False, 1, now, now, SecretValue("hunter2"))
    assert "hunter2" not in repr(secret)
    assert secret.to_json()["raw_value"] == "hunter2"


def test_iso8601_is_utc_with_a_z() -> None:
    moment = datetime(2024, 1, 15, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert iso8601(moment) == "2024-01-15T10:30:00Z"
    assert iso8601(datetime(2024, 1, 15, 10, 30)) == "2024-01-15T10:30:00Z"
