"""The inheritance rule, in one place: a stack's own secret overrides its account's key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

__all__ = ["Layered", "overlay"]


class Layered(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def stack_id(self) -> int | None: ...


L = TypeVar("L", bound=Layered)


def overlay(rows: Iterable[L]) -> list[L]:
    """The effective secrets: account-level rows overlaid by stack-level rows, sorted by key.

    ``rows`` holds the live secrets of one stack and of its account (``stack_id`` None).
    """
    effective: dict[str, L] = {}
    for row in rows:
        current = effective.get(row.key)
        if current is None or (current.stack_id is None and row.stack_id is not None):
            effective[row.key] = row
    return [effective[key] for key in sorted(effective)]
