"""The inheritance rule equals a dictionary overlay: ``{**account, **stack}``."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from stacksafe.core.inheritance import overlay


@dataclass(frozen=True)
class Row:
    key: str
    stack_id: int | None
    value: str


keys = st.text(alphabet="ABCDE_", min_size=1, max_size=3)
layer = st.dictionaries(keys, st.text(max_size=5), max_size=8)


@given(layer, layer, st.booleans())
def test_overlay_is_a_dictionary_overlay(
    account: dict[str, str], stack: dict[str, str], stack_first: bool
) -> None:
    account_rows = [Row(k, None, v) for k, v in account.items()]
    stack_rows = [Row(k, 7, v) for k, v in stack.items()]
    rows = stack_rows + account_rows if stack_first else account_rows + stack_rows
    result = overlay(rows)
    expected = {**account, **stack}
    assert {r.key: r.value for r in result} == expected
    assert [r.key for r in result] == sorted(expected)
    assert all((r.stack_id is None) == (r.key not in stack) for r in result)
