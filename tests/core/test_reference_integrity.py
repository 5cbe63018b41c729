"""Broken references, per face: a write that would create a missing target or a cycle is refused
naming the key; what stored data already holds broken (a target deleted later) is isolated when
read; generated and imported values are never read as references (docs/references.md)."""

from __future__ import annotations

import pytest

from stacksafe.core.audit_events import list_events
from stacksafe.core.bulk import NewStack, load_stacks
from stacksafe.core.generate import CHARSETS, auto_generated, generate_value
from stacksafe.core.installation import Installation
from stacksafe.core.promotion import copy_secrets, diff_stacks
from stacksafe.core.references import escape_literal, resolve_all
from stacksafe.core.secrets import (
    delivery,
    effective_values,
    get_secret,
    import_secrets,
    list_secrets,
    set_secret,
    unset_secret,
)
from stacksafe.core.tenancy import Target, create_stack, list_stacks
from stacksafe.errors import BrokenReferences, Conflict, NotFound
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.core.helpers_references import cycle, dangling, put


def event_count(installation: Installation) -> int:
    return len(list_events(installation, limit=1000))


def test_a_write_referencing_a_missing_key_is_refused_naming_both(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, stack_target, "HOST", "db.internal")
    before = event_count(installation)
    with pytest.raises(
        Conflict,
        match=r"^'URL' in stack 'web' of account 'acme' references \$\{PORT\}, which does not "
        r"exist there \(for a literal \$\{, write \$\$\{\); nothing was written$",
    ):
        put(installation, stack_target, "URL", "postgres://${HOST}:${PORT}")
    with pytest.raises(Conflict, match=r"'B' in stack 'web' .*\$\{NOPE\}"):
        import_secrets(
            installation,
            LOCAL,
            stack_target,
            {"A": SecretValue("${B}"), "B": SecretValue("${NOPE}")},
            raw=True,
        )
    # An account value is checked in every stack that inherits it (not at the account, where
    # it is a template: ${HOST} there may be each stack's own HOST).
    with pytest.raises(Conflict, match=r"'DSN' in stack 'web' .*\$\{account\.GONE\}"):
        put(installation, account_target, "DSN", "${account.GONE}")
    with pytest.raises(Conflict, match=r"'PAIR' in stack 'new' .*\$\{NOPE\}"):
        load_stacks(
            installation,
            LOCAL,
            "acme",
            [NewStack("new", "production", {"PAIR": SecretValue("${NOPE}")})],
        )
    assert event_count(installation) == before  # nothing was written
    for key, target in (("URL", stack_target), ("A", stack_target), ("DSN", account_target)):
        with pytest.raises(NotFound):
            get_secret(installation, LOCAL, target, key)
    assert [s.name for s in list_stacks(installation, LOCAL, "acme")] == ["web"]
    put(installation, account_target, "URL", "https://${HOST}/")  # web has HOST: fine


def test_a_write_closing_a_cycle_is_refused_naming_it(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, stack_target, "C", "c")
    put(installation, stack_target, "B", "${C}")
    put(installation, stack_target, "A", "${B}")
    with pytest.raises(
        Conflict, match=r"^'C' in stack 'web' .* would close a reference cycle: C -> A -> B -> C"
    ):
        put(installation, stack_target, "C", "x${A}")
    with pytest.raises(Conflict, match="cycle: SELF -> SELF"):
        put(installation, stack_target, "SELF", "${SELF}")
    # Through the account: its value resolves in each stack, where ${A} is the stack's A.
    unset_secret(installation, LOCAL, stack_target, "C")  # allowed: web's B is broken now
    with pytest.raises(Conflict, match=r"^'C' in stack 'web' .*cycle: C -> A -> B -> C"):
        put(installation, account_target, "C", "${A}")
    put(installation, account_target, "C", "c")  # mends it


def test_a_broken_key_is_isolated_when_read_and_named(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, stack_target, "PLAIN", "plain")
    put(installation, stack_target, "OTHER", "still here ${PLAIN}")
    # Deleting a key another key references is allowed: reads isolate the broken key.
    dangling(installation, stack_target, "URL", "HOST")
    cycle(installation, account_target, stack_target, "A", "B")

    listed = {
        s.key: s.raw_value for s in list_secrets(installation, LOCAL, stack_target, reveal=True)
    }
    assert listed == {
        "A": None,
        "B": None,
        "OTHER": SecretValue("still here plain"),
        "PLAIN": SecretValue("plain"),
        "URL": None,
    }
    values, broken = delivery(installation, LOCAL, stack_target)
    assert values == {"OTHER": SecretValue("still here plain"), "PLAIN": SecretValue("plain")}
    assert broken["URL"] == "${HOST} does not exist in stack 'web' of account 'acme'"
    assert broken["A"] == "reference cycle in stack 'web' of account 'acme': A -> B -> A"
    event = list_events(installation, limit=1)[0]
    assert event.detail["broken"] == ["A", "B", "URL"]
    assert set(event.detail["keys"]) == {"OTHER", "PLAIN"}  # a broken key was not revealed
    with pytest.raises(BrokenReferences, match=r"\$\{HOST\} does not exist.*not given: A, B, URL"):
        effective_values(installation, LOCAL, stack_target)
    with pytest.raises(Conflict, match=r"\$\{HOST\} does not exist"):
        get_secret(installation, LOCAL, stack_target, "URL", reveal=True)
    assert get_secret(installation, LOCAL, stack_target, "OTHER", reveal=True).raw_value == (
        SecretValue("still here plain")
    )
    stored = get_secret(installation, LOCAL, stack_target, "URL", reveal=True, resolve=False)
    assert stored.raw_value == SecretValue("before ${HOST} after")
    # Mending it: giving the target back is a write like any other.
    put(installation, stack_target, "HOST", "h")
    values, broken = delivery(installation, LOCAL, stack_target)
    assert values["URL"] == SecretValue("before h after")
    assert sorted(broken) == ["A", "B"]


def test_generated_values_are_never_read_as_references(
    installation: Installation, stack_target: Target
) -> None:
    # 100 symbols values of 4,096 characters: with "$" in the alphabet, "${" appears in about
    # 40 % of them (and "$${" or a "${KEY}" in some); without it, never.
    for charset in CHARSETS:
        for _ in range(100 if charset == "symbols" else 5):
            value = generate_value(4096, charset).reveal()
            assert escape_literal(value) == value, charset
    generated = generate_value(4096, "symbols")
    set_secret(installation, LOCAL, stack_target, "GEN", generated)
    assert get_secret(installation, LOCAL, stack_target, "GEN", reveal=True).raw_value == generated
    auto = auto_generated(SecretValue("AUTO_GENERATE_4096"))
    assert auto is not None
    assert "$" not in auto.reveal()


def test_imported_values_read_back_exactly_unless_raw(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "X", "spliced-in")
    literal = {
        "TEMPLATE": "a ${X} b",
        "ESCAPED": "$${X}",
        "PASSWORD": "p$${X}}${{$$${",
    }
    import_secrets(
        installation, LOCAL, stack_target, {k: SecretValue(v) for k, v in literal.items()}
    )
    read = effective_values(installation, LOCAL, stack_target)
    assert {k: read[k].reveal() for k in literal} == literal
    import_secrets(
        installation, LOCAL, stack_target, {"LIVE": SecretValue("a ${X} $${X}")}, raw=True
    )
    assert effective_values(installation, LOCAL, stack_target)["LIVE"] == SecretValue(
        "a spliced-in ${X}"
    )


def test_escape_literal_is_undone_by_resolving() -> None:
    for text in ("${X}", "$${X}", "$$${X}", "a$", "${", "$${", "${account.X}", "}${}", "$"):
        assert resolve_all({"K": escape_literal(text)}, dict, "w").values == {"K": text}


def test_copy_and_diff_name_a_broken_key(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, stack_target, "OTHER", "fine")
    dangling(installation, stack_target, "URL", "HOST")
    other = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "dev", "development")
    )
    with pytest.raises(Conflict, match=r"'URL' in stack 'dev' .*\$\{HOST\}"):
        copy_secrets(installation, LOCAL, stack_target, other, allow_production_source=True)
    copy_secrets(installation, LOCAL, stack_target, other, ["OTHER"], allow_production_source=True)
    assert delivery(installation, LOCAL, other) == ({"OTHER": SecretValue("fine")}, {})
    with pytest.raises(BrokenReferences, match="'URL' has a broken reference in stack 'web'"):
        diff_stacks(installation, LOCAL, stack_target, other)
