"""Generated values: `secrets generate` and Cloud66's AUTO_GENERATE, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from stacksafe.core.audit_events import list_events
from stacksafe.core.generate import CHARSETS, auto_generated, generate_value
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import get_secret, import_secrets, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue
from tests.actors import LOCAL


@pytest.mark.parametrize("charset", sorted(CHARSETS))
def test_generated_values_use_only_their_alphabet_and_differ(charset: str) -> None:
    values = {generate_value(64, charset).reveal() for _ in range(20)}
    assert len(values) == 20
    assert all(len(v) == 64 and set(v) <= set(CHARSETS[charset]) for v in values)


def test_bad_generation_requests_are_refused() -> None:
    with pytest.raises(InvalidInput, match="charset 'emoji'"):
        generate_value(10, "emoji")
    with pytest.raises(InvalidInput, match="between 1 and 4096"):
        generate_value(0)
    with pytest.raises(InvalidInput, match="between 1 and 4096"):
        generate_value(5000)


def test_auto_generate_values() -> None:
    assert auto_generated(SecretValue("plain")) is None
    assert auto_generated(SecretValue("AUTO_GENERATE_")) is None
    assert auto_generated(SecretValue("auto_generate")) is None
    ten = auto_generated(SecretValue("AUTO_GENERATE"))
    assert ten is not None
    assert len(ten) == 10
    assert ten.reveal().isalnum()
    forty = auto_generated(SecretValue("AUTO_GENERATE_40"))
    assert forty is not None
    assert len(forty) == 40


def revealed(installation: Installation, target: Target, key: str) -> str:
    found = get_secret(installation, LOCAL, target, key, reveal=True).raw_value
    assert found is not None
    return found.reveal()


def test_setting_auto_generate_stores_a_random_value(
    installation: Installation, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, stack_target, "TOKEN", SecretValue("AUTO_GENERATE_24"))

    first = revealed(installation, stack_target, "TOKEN")
    assert len(first) == 24
    assert first != "AUTO_GENERATE_24"
    event = next(e for e in list_events(installation, limit=5) if e.action == "secret.set")
    assert event.detail["generated"] == ["TOKEN"]
    set_secret(installation, LOCAL, stack_target, "TOKEN", SecretValue("AUTO_GENERATE_24"))
    assert revealed(installation, stack_target, "TOKEN") != first  # an explicit set generates anew


def test_an_imported_auto_generate_generates_once(
    installation: Installation, stack_target: Target
) -> None:
    entries = {"SESSION_KEY": SecretValue("AUTO_GENERATE"), "NAME": SecretValue("app")}

    first = import_secrets(installation, LOCAL, stack_target, entries)
    value = revealed(installation, stack_target, "SESSION_KEY")
    again = import_secrets(installation, LOCAL, stack_target, entries)

    assert first.added == ["NAME", "SESSION_KEY"]
    assert len(value) == 10
    assert again.unchanged == ["NAME", "SESSION_KEY"]
    assert revealed(installation, stack_target, "SESSION_KEY") == value
    with pytest.raises(InvalidInput, match="between 1 and 4096"):
        import_secrets(
            installation, LOCAL, stack_target, {"HUGE": SecretValue("AUTO_GENERATE_99999")}
        )
