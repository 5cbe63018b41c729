"""Environment separation: restricted account secrets, drift between stacks, and promotion."""

from __future__ import annotations

import pytest

from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.promotion import copy_secrets, diff_stacks
from stacksafe.core.secrets import (
    account_restrictions,
    environments_of,
    get_secret,
    list_secrets,
    restrict_secret,
    set_secret,
    unset_secret,
)
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.errors import Forbidden, InvalidInput, NotFound
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.api.helpers import snapshot
from tests.core.helpers_access import make_user


@pytest.fixture
def staging(installation: Installation, account_target: Target) -> Target:
    return Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "web-stg", "staging")
    )


def put(installation: Installation, target: Target, key: str, value: str, **kwargs: object) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value), **kwargs)  # type: ignore[arg-type]


def effective(installation: Installation, target: Target) -> dict[str, str]:
    return {
        s.key: s.raw_value.reveal()
        for s in list_secrets(installation, LOCAL, target, reveal=True)
        if s.raw_value is not None
    }


def test_a_production_only_secret_is_not_inherited_by_staging(
    installation: Installation, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(installation, account_target, "PROD_DB", "prod-password", environments=["production"])
    put(installation, account_target, "SHARED", "everyone")

    assert effective(installation, stack_target) == {
        "PROD_DB": "prod-password",
        "SHARED": "everyone",
    }
    assert effective(installation, staging) == {"SHARED": "everyone"}
    with pytest.raises(NotFound, match="PROD_DB"):
        get_secret(installation, LOCAL, staging, "PROD_DB", reveal=True)
    with pytest.raises(NotFound, match="does not exist"):
        unset_secret(
            installation, LOCAL, staging, "PROD_DB"
        )  # not "inherited": staging never sees it
    assert environments_of(installation, LOCAL, account_target, "PROD_DB") == ["production"]
    assert environments_of(installation, LOCAL, account_target, "SHARED") is None


def test_account_restrictions_name_every_restricted_key_at_once(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "PROD_DB", "p", environments=["staging", "production"])
    put(installation, account_target, "GONE", "g", environments=["production"])
    put(installation, account_target, "SHARED", "s")
    put(installation, stack_target, "OWN", "o")
    unset_secret(installation, LOCAL, account_target, "GONE")
    expected = {"PROD_DB": ["production", "staging"]}
    assert account_restrictions(installation, LOCAL, account_target) == expected
    assert account_restrictions(installation, LOCAL, stack_target) == expected  # its account's
    stack_only = make_user(
        installation, "dev@acme.test", "acme", "viewer", {"web": "developer"}, stacks=["web"]
    )
    with pytest.raises(Forbidden):  # a token narrowed to a stack cannot describe the account
        account_restrictions(installation, stack_only, stack_target)


def test_restrictions_can_be_changed_and_lifted_and_are_audited(
    installation: Installation, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(installation, account_target, "K", "v", environments=["production"])
    # Setting a new value without saying anything keeps the restriction.
    put(installation, account_target, "K", "v2")
    assert "K" not in effective(installation, staging)

    assert restrict_secret(installation, LOCAL, account_target, "K", ["staging", "production"]) == [
        "production",
        "staging",
    ]
    assert effective(installation, staging) == {"K": "v2"}
    event = next(e for e in list_events(installation, limit=5) if e.action == "secret.restrict")
    assert event.detail["environments"] == "production staging"

    assert restrict_secret(installation, LOCAL, account_target, "K", ["development"]) == [
        "development"
    ]
    assert "K" not in effective(installation, stack_target)
    assert (
        restrict_secret(installation, LOCAL, account_target, "K", []) is None
    )  # every environment
    assert effective(installation, stack_target)["K"] == "v2"
    put(installation, account_target, "K", "v3", environments=["staging"])
    assert environments_of(installation, LOCAL, account_target, "K") == ["staging"]


def test_a_stack_may_still_set_its_own_key_of_that_name(
    installation: Installation, account_target: Target, staging: Target
) -> None:
    put(installation, account_target, "DB", "prod", environments=["production"])
    put(installation, staging, "DB", "staging own")
    assert effective(installation, staging) == {"DB": "staging own"}


def test_bad_restrictions_are_refused_and_change_nothing(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "K", "v")
    before = snapshot(installation)
    with pytest.raises(InvalidInput, match="account-level"):
        put(installation, stack_target, "S", "v", environments=["production"])
    with pytest.raises(InvalidInput, match="environment 'prod uction'"):
        restrict_secret(installation, LOCAL, account_target, "K", ["prod uction"])
    with pytest.raises(NotFound, match="NOPE"):
        restrict_secret(installation, LOCAL, account_target, "NOPE", ["production"])
    assert snapshot(installation) == before


def test_diff_names_missing_and_differing_keys_never_values(
    installation: Installation, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(installation, account_target, "SHARED", "same for all")
    put(installation, stack_target, "ONLY_PROD", "p")
    put(installation, staging, "ONLY_STAGING", "s")
    put(installation, stack_target, "DRIFT", "prod value")
    put(installation, staging, "DRIFT", "staging value")
    put(installation, stack_target, "EQUAL", "equal value")
    put(installation, staging, "EQUAL", "equal value")

    entries = {e.key: e for e in diff_stacks(installation, LOCAL, stack_target, staging)}

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
    purposes = [e.detail.get("purpose") for e in list_events(installation, limit=2)]
    assert purposes == ["diff", "diff"]


def test_copy_from_production_needs_the_explicit_flag(
    installation: Installation, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(installation, stack_target, "API_KEY", "prod-api-key")
    put(installation, stack_target, "OTHER", "prod-other")
    before = snapshot(installation)

    with pytest.raises(Forbidden, match="allow_production_source"):
        copy_secrets(installation, LOCAL, stack_target, staging, ["API_KEY"])
    assert snapshot(installation) == before
    denied = next(e for e in list_events(installation, limit=20) if e.outcome == "denied")
    assert denied.detail["copied_from"] == stack_target.stack.uid  # type: ignore[union-attr]

    report = copy_secrets(
        installation, LOCAL, stack_target, staging, ["API_KEY"], allow_production_source=True
    )

    assert report.added == ["API_KEY"]
    assert effective(installation, staging) == {"API_KEY": "prod-api-key"}
    event = next(e for e in list_events(installation, limit=5) if e.action == "secret.import")
    assert event.detail["copied_from"] == stack_target.stack.uid  # type: ignore[union-attr]
    assert event.detail["from_production"] is True


def test_copy_between_non_production_stacks_and_its_refusals(
    installation: Installation, account_target: Target, stack_target: Target, staging: Target
) -> None:
    dev = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "dev", "development")
    )
    put(installation, staging, "A", "a")
    put(installation, staging, "B", "b")

    assert copy_secrets(installation, LOCAL, staging, dev).added == ["A", "B"]
    assert effective(installation, dev) == {"A": "a", "B": "b"}
    with pytest.raises(NotFound, match="'MISSING'"):
        copy_secrets(installation, LOCAL, staging, dev, ["A", "MISSING"])
    with pytest.raises(InvalidInput, match="same stack"):
        copy_secrets(installation, LOCAL, dev, dev)
    with pytest.raises(InvalidInput, match="must be a stack"):
        copy_secrets(installation, LOCAL, account_target, dev)


def test_a_deployer_can_diff_but_not_copy(
    installation: Installation, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(installation, staging, "A", "a")
    deployer = make_user(installation, "deployer@example.com", "acme", "deployer")
    viewer = make_user(installation, "viewer@example.com", "acme", "viewer")

    assert [e.key for e in diff_stacks(installation, deployer, stack_target, staging)] == ["A"]
    with pytest.raises(Forbidden):
        diff_stacks(installation, viewer, stack_target, staging)  # fingerprints need reveal
    with pytest.raises(Forbidden):
        copy_secrets(installation, deployer, staging, stack_target)


def test_diff_follows_referenced_values_and_copy_keeps_the_stored_text(
    installation: Installation, account_target: Target, stack_target: Target, staging: Target
) -> None:
    put(installation, stack_target, "B", "one")
    put(installation, stack_target, "A", "${B}")
    put(installation, staging, "A", "one")
    put(installation, staging, "B", "one")
    assert {e.key: e.state for e in diff_stacks(installation, LOCAL, stack_target, staging)}[
        "A"
    ] == ("same")
    put(installation, stack_target, "B", "two")
    states = {e.key: e.state for e in diff_stacks(installation, LOCAL, stack_target, staging)}
    assert (states["A"], states["B"]) == ("differs", "differs")

    put(installation, staging, "ESCAPED", "echo $${HOME}")
    dev = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "dev2", "development")
    )
    copy_secrets(installation, LOCAL, staging, dev, ["ESCAPED"])
    stored = list_secrets(installation, LOCAL, dev, reveal=True, resolve=False)
    assert {s.key: s.raw_value for s in stored}["ESCAPED"] == SecretValue("echo $${HOME}")
    assert effective(installation, dev)["ESCAPED"] == "echo ${HOME}"
