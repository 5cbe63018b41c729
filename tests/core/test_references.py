"""`${KEY}` and `${account.KEY}` references: resolution rules in isolation, then through the core
on SQLite and PostgreSQL (overrides, environments, permissions, audit, raw values)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.references import MAX_DEPTH, resolve_all
from stacksafe.core.secrets import (
    effective_values,
    get_secret,
    list_secrets,
    restrict_secret,
    set_secret,
)
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.errors import BrokenReferences, Conflict, Forbidden, NotFound
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.core.helpers_access import make_user


def resolved(own: Mapping[str, str], account: Mapping[str, str] | None = None) -> dict[str, str]:
    return resolve_all(own, lambda: account or {}, "stack 'web'").values


def test_plain_values_and_lone_dollars_are_untouched() -> None:
    own = {"A": "p@$$w0rd", "B": "$HOME and ${lower case} and ${", "C": "$${A} is literal"}
    assert resolved(own) == {
        "A": "p@$$w0rd",
        "B": "$HOME and ${lower case} and ${",
        "C": "${A} is literal",
    }


def test_references_resolve_through_chains() -> None:
    own = {
        "HOST": "db.internal",
        "PORT": "5432",
        "URL": "postgres://app:${PASSWORD}@${HOST}:${PORT}/app",
        "PASSWORD": "s3cret",
        "DSN": "${URL}?sslmode=require",
    }
    out = resolve_all(own, dict, "stack 'web'")
    assert out.values["DSN"] == "postgres://app:s3cret@db.internal:5432/app?sslmode=require"
    assert out.used["URL"] == ["HOST", "PASSWORD", "PORT"]
    assert out.used["DSN"] == ["HOST", "PASSWORD", "PORT", "URL"]


def test_account_references_and_their_own_references_mean_the_account() -> None:
    own = {"HOST": "stack-host", "URL": "${account.URL}/x"}
    account = {"URL": "https://${HOST}", "HOST": "account-host"}
    assert resolved(own, account)["URL"] == "https://account-host/x"


def broken(own: Mapping[str, str], account: Mapping[str, str] | None = None) -> dict[str, str]:
    return resolve_all(own, lambda: account or {}, "stack 'web'").broken


def test_a_cycle_is_an_error_naming_it_and_the_other_keys_still_resolve() -> None:
    out = resolve_all({"A": "${B}", "B": "${C}", "C": "x${A}", "OK": "${D}", "D": "d"}, dict, "w")
    assert out.broken["A"] == "reference cycle in w: A -> B -> C -> A"
    assert set(out.broken) == {"A", "B", "C"}
    assert out.values == {"OK": "d", "D": "d"}
    assert broken({"SELF": "${SELF}"}) == {"SELF": "reference cycle in stack 'web': SELF -> SELF"}


def test_a_missing_target_is_an_error_naming_it() -> None:
    assert broken({"A": "${NOPE}"}) == {"A": "${NOPE} does not exist in stack 'web'"}
    assert "no account secret 'GONE'" in broken({"A": "${account.GONE}"}, {"OTHER": "x"})["A"]


def test_depth_is_limited_to_ten() -> None:
    chain = {f"K{i}": f"${{K{i + 1}}}" for i in range(MAX_DEPTH)}
    chain[f"K{MAX_DEPTH}"] = "end"
    assert resolved(chain)["K0"] == "end"  # ten references deep: fine
    chain[f"K{MAX_DEPTH}"] = "${END}"
    chain["END"] = "end"
    assert "deeper than 10" in broken(chain)["K0"]


# --- Through the core --------------------------------------------------------------------


def put(installation: Installation, target: Target, key: str, value: str, **kwargs: object) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value), **kwargs)  # type: ignore[arg-type]


def test_references_resolve_after_overrides_in_the_stack_being_read(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "HOST", "account-host")
    put(installation, account_target, "URL", "https://${HOST}/api")
    put(installation, stack_target, "HOST", "web-host")

    assert (
        effective_values(installation, LOCAL, stack_target)["URL"].reveal()
        == "https://web-host/api"
    )
    assert effective_values(installation, LOCAL, account_target)["URL"].reveal() == (
        "https://account-host/api"
    )
    one = get_secret(installation, LOCAL, stack_target, "URL", reveal=True)
    assert one.raw_value == SecretValue("https://web-host/api")
    raw = get_secret(installation, LOCAL, stack_target, "URL", reveal=True, resolve=False)
    assert raw.raw_value == SecretValue("https://${HOST}/api")
    event = list_events(installation, limit=2)[1]
    assert event.detail["references"] == {"URL": ["HOST"]}


def test_a_reference_cannot_reach_a_secret_restricted_to_another_environment(
    installation: Installation, account_target: Target
) -> None:
    staging = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "stg", "staging")
    )
    put(installation, account_target, "PROD_PASSWORD", "never-in-staging")
    put(installation, staging, "LEAK", "${account.PROD_PASSWORD}")
    put(installation, staging, "LEAK2", "${PROD_PASSWORD}")
    put(installation, staging, "FINE", "fine")
    # Restricting it afterwards is allowed (as deleting it is): the references break, and
    # reads isolate them (docs/references.md).
    restrict_secret(installation, LOCAL, account_target, "PROD_PASSWORD", ["production"])

    listed = list_secrets(installation, LOCAL, staging, reveal=True)
    assert {s.key: s.raw_value for s in listed} == {
        "FINE": SecretValue("fine"),
        "LEAK": None,
        "LEAK2": None,
    }
    with pytest.raises(Conflict, match="PROD_PASSWORD"):
        get_secret(installation, LOCAL, staging, "LEAK", reveal=True)
    with pytest.raises(BrokenReferences, match=r"LEAK2 does not exist|\$\{PROD_PASSWORD\}"):
        effective_values(installation, LOCAL, staging)
    listed = list_secrets(installation, LOCAL, staging, reveal=True, resolve=False)
    assert {s.key for s in listed} == {"FINE", "LEAK", "LEAK2"}
    # A new reference to it is refused when written, naming the key and the reference.
    with pytest.raises(Conflict, match=r"'LEAK3' in stack 'stg' .*\$\{PROD_PASSWORD\}"):
        put(installation, staging, "LEAK3", "${PROD_PASSWORD}")


def test_revealing_a_stack_resolves_what_it_inherits_without_account_permissions(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, account_target, "SHARED", "shared-value")
    put(installation, account_target, "PROD_ONLY", "prod-value", environments=["production"])
    put(installation, stack_target, "USES_ACCOUNT", "${account.SHARED}")
    put(installation, stack_target, "USES_INHERITED", "${SHARED}")
    developer = make_user(
        installation, "dev@example.com", "acme", "viewer", stack_roles={"web": "developer"}
    )

    # What the stack inherits is part of the stack: its reveal permission is enough.
    used = get_secret(installation, developer, stack_target, "USES_ACCOUNT", reveal=True)
    assert used.raw_value == SecretValue("shared-value")
    inherited = get_secret(installation, developer, stack_target, "USES_INHERITED", reveal=True)
    assert inherited.raw_value == SecretValue("shared-value")
    event = list_events(installation, limit=1)[0]
    assert (event.action, event.outcome) == ("reveal", "ok")
    # The account level itself stays out of reach.
    with pytest.raises(Forbidden):
        list_secrets(installation, developer, account_target, reveal=True)
    # And a stack of another environment reaches no more than it inherits.
    staging = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "stg", "staging")
    )
    with pytest.raises(Conflict, match="the account has no secret 'PROD_ONLY'"):
        put(installation, staging, "LEAK", "${account.PROD_ONLY}")
    stager = make_user(
        installation, "stg@example.com", "acme", "viewer", stack_roles={"stg": "developer"}
    )
    with pytest.raises(NotFound):
        get_secret(installation, stager, staging, "LEAK", reveal=True)
    with pytest.raises(Forbidden):
        get_secret(installation, stager, stack_target, "USES_ACCOUNT", reveal=True)


def test_resolved_values_never_show_in_a_repr() -> None:
    out = resolve_all({"PW": "hunter2-plain", "URL": "x:${PW}"}, dict, "stack 'web'")
    assert "hunter2-plain" not in repr(out)
    assert out.values["URL"] == "x:hunter2-plain"
