"""Set, get, list and unset through the core, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import get_secret, list_secrets, set_secret, unset_secret
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.errors import Conflict, InvalidInput, NotFound
from stacksafe.model import SecretValue
from tests.actors import LOCAL

AUTHOR = "test:author"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def put(installation: Installation, target: Target, key: str, value: str) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value))


def revealed(installation: Installation, target: Target) -> dict[str, tuple[str, bool]]:
    return {
        s.key: (s.raw_value.reveal() if s.raw_value else "", s.inherited)
        for s in list_secrets(installation, LOCAL, target, reveal=True)
    }


def test_secret_json_has_exactly_the_six_fields_of_the_specification(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "DATABASE_PASSWORD", "mySecretPassword123!")
    data = get_secret(installation, LOCAL, stack_target, "DATABASE_PASSWORD", reveal=True).to_json()
    assert list(data) == [
        "key",
        "value",
        "raw_value",
        "inherited",
        "created_at_iso",
        "updated_at_iso",
    ]
    assert data["key"] == "DATABASE_PASSWORD"
    assert data["raw_value"] == "mySecretPassword123!"
    assert data["inherited"] is False
    assert str(data["value"]).startswith("encrypted:AES256:")
    assert "mySecretPassword123!" not in str(data["value"])
    assert ISO.fullmatch(str(data["created_at_iso"]))
    assert ISO.fullmatch(str(data["updated_at_iso"]))


def test_raw_value_is_null_unless_revealed(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "TOKEN", "t0k3n")
    assert get_secret(installation, LOCAL, stack_target, "TOKEN").to_json()["raw_value"] is None
    assert all(s.raw_value is None for s in list_secrets(installation, LOCAL, stack_target))


def test_stack_sees_account_secrets_as_inherited(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "SHARED", "from-account")
    put(installation, stack_target, "OWN", "from-stack")
    assert revealed(installation, stack_target) == {
        "OWN": ("from-stack", False),
        "SHARED": ("from-account", True),
    }
    # The account level lists only its own secrets, marked inherited as the specification says.
    assert revealed(installation, account_target) == {"SHARED": ("from-account", True)}


def test_stack_override_wins_and_unsetting_it_restores_the_account_value(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "DB", "account-db")
    put(installation, stack_target, "DB", "stack-db")
    assert revealed(installation, stack_target) == {"DB": ("stack-db", False)}
    unset_secret(installation, LOCAL, stack_target, "DB")
    assert revealed(installation, stack_target) == {"DB": ("account-db", True)}


def test_other_stacks_do_not_see_a_stack_secret(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    other = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "api", "staging")
    )
    put(installation, stack_target, "ONLY_WEB", "x")
    put(installation, account_target, "ALL", "y")
    assert revealed(installation, other) == {"ALL": ("y", True)}


def test_update_creates_new_version_and_keeps_created_at(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "one")
    first = get_secret(installation, LOCAL, stack_target, "K")
    put(installation, stack_target, "K", "two")
    second = get_secret(installation, LOCAL, stack_target, "K", reveal=True)
    assert (first.version, second.version) == (1, 2)
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert second.raw_value == SecretValue("two")
    assert second.value != first.value


def test_set_after_unset_continues_the_version_series(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "one")
    unset_secret(installation, LOCAL, stack_target, "K")
    with pytest.raises(NotFound):
        get_secret(installation, LOCAL, stack_target, "K")
    put(installation, stack_target, "K", "again")
    again = get_secret(installation, LOCAL, stack_target, "K", reveal=True)
    assert again.version == 3
    assert again.raw_value == SecretValue("again")


def test_unset_of_an_only_inherited_key_is_a_conflict_that_says_where_to_delete(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "SHARED", "v")
    with pytest.raises(Conflict, match="delete it at account level"):
        unset_secret(installation, LOCAL, stack_target, "SHARED")
    assert revealed(installation, stack_target) == {"SHARED": ("v", True)}


def test_unset_of_a_missing_key_is_not_found(
    installation: Installation, stack_target: Target
) -> None:
    with pytest.raises(NotFound, match="'NOPE' does not exist"):
        unset_secret(installation, LOCAL, stack_target, "NOPE")


def test_empty_value_is_allowed(installation: Installation, stack_target: Target) -> None:
    put(installation, stack_target, "EMPTY", "")
    assert get_secret(
        installation, LOCAL, stack_target, "EMPTY", reveal=True
    ).raw_value == SecretValue("")


def test_unicode_and_multiline_values_round_trip(
    installation: Installation, stack_target: Target
) -> None:
    value = "-----BEGIN KEY-----\nzażółć 🔑\n-----END KEY-----\n"
    put(installation, stack_target, "PEM", value)
    assert get_secret(
        installation, LOCAL, stack_target, "PEM", reveal=True
    ).raw_value == SecretValue(value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("db pass", "x", "is not valid"),
        ("A" * 256, "x", "limit is 255"),
        ("GOOD", "x" * (64 * 1024 + 1), "limit is 65536 bytes"),
        ("GOOD", "a\x00b", "NUL"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    installation: Installation, stack_target: Target, key: str, value: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        set_secret(installation, LOCAL, stack_target, key, SecretValue(value))
    assert "x" * 20 not in str(caught.value)
    assert list_secrets(installation, LOCAL, stack_target) == []


def test_value_limit_counts_utf8_bytes(installation: Installation, stack_target: Target) -> None:
    installation.max_value_bytes = 5
    put(installation, stack_target, "FITS", "ab€")  # 1 + 1 + 3 bytes
    with pytest.raises(InvalidInput, match="7 bytes; the limit is 5"):
        put(installation, stack_target, "TOO_BIG", "a€€")  # 1 + 3 + 3 bytes


def test_longest_valid_key_and_largest_value_are_accepted(
    installation: Installation, stack_target: Target
) -> None:
    key = "K" * 255
    put(installation, stack_target, key, "v" * (64 * 1024))
    assert get_secret(installation, LOCAL, stack_target, key).version == 1
