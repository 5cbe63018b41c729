"""Export then import is the identity (docs/references.md): `export --raw` then `import --raw`
gives back the stored values, live references and ``$${`` escapes included; a plain `export`
then a plain `import` gives back what every key reads as, and the stored values themselves
when they hold no live reference. Property-tested over the formats that round-trip."""

from __future__ import annotations

from itertools import count

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stacksafe.core.exports import render_export
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import delivery, import_secrets
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.core.transfer import Format, parse
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue
from tests.actors import LOCAL

KEYS = [f"K{i}" for i in range(5)]
FORMATS: list[Format] = ["dotenv", "json"]
_stacks = count()

# Text around references: what makes escapes and near-references ("$", "{", "}", quotes).
_text = st.text(alphabet="ab$${}'\" \\\n=#é", max_size=12)


@st.composite
def stored_values(draw: st.DrawFn) -> dict[str, str]:
    """Stored texts of up to five keys: literal text, ``$${X}`` escapes, and live references
    to earlier keys only (so no cycle, no missing target: writes refuse those)."""
    values: dict[str, str] = {}
    for index, key in enumerate(KEYS[: draw(st.integers(1, len(KEYS)))]):
        parts = []
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["text", "escape", "reference"]))
            if kind == "reference" and index:
                parts.append("${" + draw(st.sampled_from(KEYS[:index])) + "}")
            elif kind == "escape":
                parts.append("$${" + draw(st.sampled_from(["X", "K0", "lower", ""])) + "}")
            else:
                parts.append(draw(_text))
        values[key] = "".join(parts)
    return values


def _stack(installation: Installation, account: Target) -> Target:
    stack = create_stack(installation, LOCAL, "acme", f"s{next(_stacks)}", "production")
    return Target(account.account, stack)


def _fill(installation: Installation, target: Target, values: dict[str, str]) -> None:
    entries = {k: SecretValue(v) for k, v in values.items()}
    import_secrets(installation, LOCAL, target, entries, raw=True)


def _exported(installation: Installation, target: Target, fmt: str, *, raw: bool) -> str:
    values, broken = delivery(installation, LOCAL, target, "export", resolve=not raw)
    assert not broken
    try:
        return render_export(values, fmt)
    except InvalidInput:
        # dotenv refuses (naming them) values it cannot quote safely for sh: not a copy.
        assume(False)
        raise


def _stored(installation: Installation, target: Target) -> dict[str, str]:
    values, _ = delivery(installation, LOCAL, target, "check", resolve=False)
    return {k: v.reveal() for k, v in values.items()}


def _read(installation: Installation, target: Target) -> dict[str, str]:
    values, _ = delivery(installation, LOCAL, target, "check")
    return {k: v.reveal() for k, v in values.items()}


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=stored_values(), fmt=st.sampled_from(FORMATS))
def test_raw_export_then_raw_import_gives_back_the_stored_values(
    installation: Installation, account_target: Target, fmt: Format, values: dict[str, str]
) -> None:
    source = _stack(installation, account_target)
    _fill(installation, source, values)
    text = _exported(installation, source, fmt, raw=True)
    copy = _stack(installation, account_target)
    import_secrets(installation, LOCAL, copy, parse(text, fmt, "export"), raw=True)
    assert _stored(installation, copy) == values
    assert _read(installation, copy) == _read(installation, source)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=stored_values(), fmt=st.sampled_from(FORMATS))
def test_export_then_import_gives_back_what_every_key_reads_as(
    installation: Installation, account_target: Target, fmt: Format, values: dict[str, str]
) -> None:
    source = _stack(installation, account_target)
    _fill(installation, source, values)
    text = _exported(installation, source, fmt, raw=False)
    copy = _stack(installation, account_target)
    import_secrets(installation, LOCAL, copy, parse(text, fmt, "export"))
    assert _read(installation, copy) == _read(installation, source)
    # Without live references the stored values are the same too ($${X} stays an escape).
    plain = {k: v for k, v in values.items() if "${" not in v.replace("$${", "")}
    copied = _stored(installation, copy)
    assert {k: copied[k] for k in plain} == plain
