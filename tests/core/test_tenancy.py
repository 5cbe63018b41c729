"""Accounts and stacks: names, environments, and resolving a uid or a name."""

from __future__ import annotations

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import (
    create_account,
    create_stack,
    find_stack,
    list_stacks,
    resolve_target,
)
from stacksafe.errors import Conflict, InvalidInput, NotFound
from tests.actors import LOCAL


def test_duplicate_account_and_stack_names_are_conflicts(installation: Installation) -> None:
    create_account(installation, LOCAL, "acme")
    with pytest.raises(Conflict, match="account 'acme' already exists"):
        create_account(installation, LOCAL, "acme")
    create_stack(installation, LOCAL, "acme", "web", "production")
    with pytest.raises(Conflict, match="stack 'web' already exists in account 'acme'"):
        create_stack(installation, LOCAL, "acme", "web", "staging")
    assert [s.environment for s in list_stacks(installation, LOCAL, "acme")] == ["production"]


def test_same_stack_name_in_two_accounts_needs_the_account_or_uid(
    installation: Installation,
) -> None:
    create_account(installation, LOCAL, "acme")
    create_account(installation, LOCAL, "beta")
    web_a = create_stack(installation, LOCAL, "acme", "web", "production")
    web_b = create_stack(installation, LOCAL, "beta", "web", "qa")
    with pytest.raises(InvalidInput, match="exists in accounts acme, beta; name the account"):
        find_stack(installation, "web")
    assert find_stack(installation, "web", "beta") == web_b
    assert find_stack(installation, web_a.uid) == web_a
    target = resolve_target(installation, account=None, stack=web_b.uid)
    assert target.account.name == "beta"


def test_stack_uid_of_another_account_is_not_found_within_an_account(
    installation: Installation,
) -> None:
    create_account(installation, LOCAL, "acme")
    create_account(installation, LOCAL, "beta")
    web = create_stack(installation, LOCAL, "acme", "web", "production")
    with pytest.raises(NotFound, match="in account 'beta'"):
        find_stack(installation, web.uid, "beta")


@pytest.mark.parametrize(
    ("account", "stack", "error", "message"),
    [
        (None, None, InvalidInput, "--stack STACK or --account ACCOUNT"),
        ("nope", None, NotFound, "account 'nope' does not exist"),
        ("acme", "nope", NotFound, "stack 'nope' does not exist in account 'acme'"),
        (None, "nope", NotFound, "stack 'nope' does not exist"),
    ],
)
def test_unknown_targets_are_named(
    installation: Installation,
    account: str | None,
    stack: str | None,
    error: type[Exception],
    message: str,
) -> None:
    create_account(installation, LOCAL, "acme")
    with pytest.raises(error, match=message):
        resolve_target(installation, account=account, stack=stack)


@pytest.mark.parametrize(
    ("name", "environment", "message"),
    [
        ("", "production", "must not be empty"),
        (" web", "production", "must not start or end with spaces"),
        ("w\neb", "production", "control characters"),
        ("x" * 256, "production", "limit is 255"),
        ("web", "prod env", "environment 'prod env' is not valid"),
        ("web", "", "environment '' is not valid"),
    ],
)
def test_bad_stack_names_and_environments(
    installation: Installation, name: str, environment: str, message: str
) -> None:
    create_account(installation, LOCAL, "acme")
    with pytest.raises(InvalidInput, match=message):
        create_stack(installation, LOCAL, "acme", name, environment)
    assert list_stacks(installation, LOCAL) == []


def test_custom_environments_are_allowed(installation: Installation) -> None:
    create_account(installation, LOCAL, "acme")
    assert create_stack(installation, LOCAL, "acme", "web", "perf-test").environment == "perf-test"
