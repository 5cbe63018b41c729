"""The inheritance rule equals a dictionary overlay, ``{**inherited, **stack}``, where the
inherited part is the account's secrets not restricted away from the stack's environment."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from stacksafe.core.inheritance import inherits, overlaid, overlay


@dataclass(frozen=True)
class Row:
    key: str
    stack_id: int | None
    value: str
    environments: str | None = None


keys = st.text(alphabet="ABCDE_", min_size=1, max_size=3)
layer = st.dictionaries(keys, st.text(max_size=5), max_size=8)
ENVIRONMENTS = ("development", "staging", "production")
restriction = st.one_of(
    st.none(),
    st.lists(st.sampled_from(ENVIRONMENTS), min_size=1, unique=True).map(
        lambda chosen: " ".join(sorted(chosen))
    ),
)


@given(layer, layer, st.booleans())
def test_overlay_is_a_dictionary_overlay(
    account: dict[str, str], stack: dict[str, str], stack_first: bool
) -> None:
    account_rows = [Row(k, None, v) for k, v in account.items()]
    stack_rows = [Row(k, 7, v) for k, v in stack.items()]
    rows = stack_rows + account_rows if stack_first else account_rows + stack_rows
    result = overlay(rows, "production")
    expected = {**account, **stack}
    assert {r.key: r.value for r in result} == expected
    assert [r.key for r in result] == sorted(expected)
    assert all((r.stack_id is None) == (r.key not in stack) for r in result)


@given(st.dictionaries(keys, restriction, max_size=8), layer, st.sampled_from(ENVIRONMENTS))
def test_restricted_account_secrets_reach_only_their_environments(
    restricted: dict[str, str | None], stack: dict[str, str], environment: str
) -> None:
    account_rows = [Row(k, None, f"account {k}", envs) for k, envs in restricted.items()]
    stack_rows = [Row(k, 7, v) for k, v in stack.items()]
    result = overlay(account_rows + stack_rows, environment)
    inherited = {
        k: f"account {k}"
        for k, envs in restricted.items()
        if envs is None or environment in envs.split()
    }
    assert {r.key: r.value for r in result} == {**inherited, **stack}


@given(st.dictionaries(keys, restriction, max_size=8), layer, st.sampled_from(ENVIRONMENTS))
def test_a_stack_key_overrides_exactly_the_account_keys_its_environment_inherits(
    restricted: dict[str, str | None], stack: dict[str, str], environment: str
) -> None:
    account_rows = [Row(k, None, f"account {k}", envs) for k, envs in restricted.items()]
    stack_rows = [Row(k, 7, v) for k, v in stack.items()]
    rows, overrides = overlaid(account_rows + stack_rows, environment)
    assert rows == overlay(account_rows + stack_rows, environment)
    inherited = {k for k, envs in restricted.items() if inherits(environment, envs)}
    assert overrides == inherited & stack.keys()


def test_inherits() -> None:
    assert inherits("staging", None)
    assert inherits("staging", "production staging")
    assert not inherits("staging", "production")
    assert not inherits("stag", "staging")  # whole names, not substrings
