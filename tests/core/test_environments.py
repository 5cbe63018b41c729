"""Environment separation: restricted account secrets, drift between stacks, and promotion."""

from __future__ import annotations

import pytest

from stacksafe.core.audit import list_events
from stacksafe.core.promotion import copy_secrets, diff_stacks
from stacksafe.core.secrets import (
    environments_of,
    get_secret,
    list_secrets,
    restrict_secret,
    set_secret,
    unset_secret,
)
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.core.vault import Vault
from stacksafe.errors import Forbidden, InvalidInput, NotFound
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.api.helpers import snapshot
from tests.core.helpers_access import make_user


@pytest.fixture
def staging(vault: Vault, account_target: Target) -> Target:
    return Target(account_target.account, create_stack(vault, LOCAL, "acme", "web-stg", "staging"))


def put(vault: Vault, target: Target, key: str, value: str, **kwargs: object) -> None:
    set_secret(vault, LOCAL, target, key, SecretValue(value), **kwargs)  # type: ignore[arg-type]


def effective(vault: Vault, target: Target) -> dict[str, str]:
    return {
        s.key: s.raw_value.reveal()
        for s in list_secrets(vault, LOCAL, target, reveal=True)
        if s.raw_value is not None
    }


def test_a_production_only_secret_is_not_inherited_by_staging(
    vault: Vault, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(vault, account_target, "PROD_DB", "prod-password", environments=["production"])
    put(vault, account_target, "SHARED", "everyone")

    assert effective(vault, stack_target) == {"PROD_DB": "prod-password", "SHARED": "everyone"}
    assert effective(vault, staging) == {"SHARED": "everyone"}
    with pytest.raises(NotFound, match="PROD_DB"):
        get_secret(vault, LOCAL, staging, "PROD_DB", reveal=True)
    with pytest.raises(NotFound, match="does not exist"):
        unset_secret(vault, LOCAL, staging, "PROD_DB")  # not "inherited": staging never sees it
    assert environments_of(vault, LOCAL, account_target, "PROD_DB") == ["production"]
    assert environments_of(vault, LOCAL, account_target, "SHARED") is None


def test_restrictions_can_be_changed_and_lifted_and_are_audited(
    vault: Vault, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(vault, account_target, "K", "v", environments=["production"])
    # Setting a new value without saying anything keeps the restriction.
    put(vault, account_target, "K", "v2")
    assert "K" not in effective(vault, staging)

    assert restrict_secret(vault, LOCAL, account_target, "K", ["staging", "production"]) == [
        "production",
        "staging",
    ]
    assert effective(vault, staging) == {"K": "v2"}
    event = next(e for e in list_events(vault, limit=5) if e.action == "secret.restrict")
    assert event.detail["environments"] == "production staging"

    assert restrict_secret(vault, LOCAL, account_target, "K", ["development"]) == ["development"]
    assert "K" not in effective(vault, stack_target)
    assert restrict_secret(vault, LOCAL, account_target, "K", []) is None  # every environment
    assert effective(vault, stack_target)["K"] == "v2"
    put(vault, account_target, "K", "v3", environments=["staging"])
    assert environments_of(vault, LOCAL, account_target, "K") == ["staging"]


def test_a_stack_may_still_set_its_own_key_of_that_name(
    vault: Vault, account_target: Target, staging: Target
) -> None:
    put(vault, account_target, "DB", "prod", environments=["production"])
    put(vault, staging, "DB", "staging own")
    assert effective(vault, staging) == {"DB": "staging own"}


def test_bad_restrictions_are_refused_and_change_nothing(
    vault: Vault, account_target: Target, stack_target: Target
) -> None:
    put(vault, account_target, "K", "v")
    before = snapshot(vault)
    with pytest.raises(InvalidInput, match="account-level"):
        put(vault, stack_target, "S", "v", environments=["production"])
    with pytest.raises(InvalidInput, match="environment 'prod uction'"):
        restrict_secret(vault, LOCAL, account_target, "K", ["prod uction"])
    with pytest.raises(NotFound, match="NOPE"):
        restrict_secret(vault, LOCAL, account_target, "NOPE", ["production"])
    assert snapshot(vault) == before


def test_diff_names_missing_and_differing_keys_never_values(
    vault: Vault, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(vault, account_target, "SHARED", "same for all")
    put(vault, stack_target, "ONLY_PROD", "p")
    put(vault, staging, "ONLY_STAGING", "s")
    put(vault, stack_target, "DRIFT", "prod value")
    put(vault, staging, "DRIFT", "staging value")
    put(vault, stack_target, "EQUAL", "equal value")
    put(vault, staging, "EQUAL", "equal value")

    entries = {e.key: e for e in diff_stacks(vault, LOCAL, stack_target, staging)}

    assert {k: e.state for k, e in entries.items()} == {
        "DRIFT": "differs",
        "EQUAL": "same",
        "ONLY_PROD": "only_left",
        "ONLY_STAGING": "only_right",
        "SHARED": "same",
    }
    assert (entries["SHARED"].left_inherited, entries["SHARED"].right_inherited) == (True, True)
    shown = str([e.to_json() for e in entries.values()])
    assert "prod value" not in shown
    assert "staging value" not in shown
    purposes = [e.detail.get("purpose") for e in list_events(vault, limit=2)]
    assert purposes == ["diff", "diff"]


def test_copy_from_production_needs_the_explicit_flag(
    vault: Vault, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(vault, stack_target, "API_KEY", "prod-api-key")
    put(vault, stack_target, "OTHER", "prod-other")
    before = snapshot(vault)

    with pytest.raises(Forbidden, match="allow_production_source"):
        copy_secrets(vault, LOCAL, stack_target, staging, ["API_KEY"])
    assert snapshot(vault) == before
    denied = next(e for e in list_events(vault, limit=20) if e.outcome == "denied")
    assert denied.detail["copied_from"] == stack_target.stack.uid  # type: ignore[union-attr]

    report = copy_secrets(
        vault, LOCAL, stack_target, staging, ["API_KEY"], allow_production_source=True
    )

    assert report.added == ["API_KEY"]
    assert effective(vault, staging) == {"API_KEY": "prod-api-key"}
    event = next(e for e in list_events(vault, limit=5) if e.action == "secret.import")
    assert event.detail["copied_from"] == stack_target.stack.uid  # type: ignore[union-attr]
    assert event.detail["from_production"] is True


def test_copy_between_non_production_stacks_and_its_refusals(
    vault: Vault, account_target: Target, stack_target: Target, staging: Target
) -> None:
    dev = Target(account_target.account, create_stack(vault, LOCAL, "acme", "dev", "development"))
    put(vault, staging, "A", "a")
    put(vault, staging, "B", "b")

    assert copy_secrets(vault, LOCAL, staging, dev).added == ["A", "B"]
    assert effective(vault, dev) == {"A": "a", "B": "b"}
    with pytest.raises(NotFound, match="'MISSING'"):
        copy_secrets(vault, LOCAL, staging, dev, ["A", "MISSING"])
    with pytest.raises(InvalidInput, match="same stack"):
        copy_secrets(vault, LOCAL, dev, dev)
    with pytest.raises(InvalidInput, match="must be a stack"):
        copy_secrets(vault, LOCAL, account_target, dev)


def test_a_deployer_can_diff_but_not_copy(
    vault: Vault, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(vault, staging, "A", "a")
    deployer = make_user(vault, "deployer@example.com", "acme", "deployer")
    viewer = make_user(vault, "viewer@example.com", "acme", "viewer")

    assert [e.key for e in diff_stacks(vault, deployer, stack_target, staging)] == ["A"]
    with pytest.raises(Forbidden):
        diff_stacks(vault, viewer, stack_target, staging)  # fingerprints need reveal
    with pytest.raises(Forbidden):
        copy_secrets(vault, deployer, staging, stack_target)


def test_diff_follows_referenced_values_and_copy_keeps_the_stored_text(
    vault: Vault, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(vault, stack_target, "B", "one")
    put(vault, stack_target, "A", "${B}")
    put(vault, staging, "A", "one")
    put(vault, staging, "B", "one")
    assert {e.key: e.state for e in diff_stacks(vault, LOCAL, stack_target, staging)}["A"] == (
        "same"
    )
    put(vault, stack_target, "B", "two")
    states = {e.key: e.state for e in diff_stacks(vault, LOCAL, stack_target, staging)}
    assert (states["A"], states["B"]) == ("differs", "differs")

    put(vault, staging, "ESCAPED", "echo $${HOME}")
    dev = Target(account_target.account, create_stack(vault, LOCAL, "acme", "dev2", "development"))
    copy_secrets(vault, LOCAL, staging, dev, ["ESCAPED"])
    stored = list_secrets(vault, LOCAL, dev, reveal=True, resolve=False)
    assert {s.key: s.raw_value for s in stored}["ESCAPED"] == SecretValue("echo $${HOME}")
    assert effective(vault, dev)["ESCAPED"] == "echo ${HOME}"
