"""The inheritance rule, in one place: a stack inherits its account's secrets (those restricted
to environments only in those environments), and its own secret overrides an inherited key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

__all__ = ["Layered", "inherits", "overlaid", "overlay"]


class Layered(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def stack_id(self) -> int | None: ...

    @property
    def environments(self) -> str | None: ...


L = TypeVar("L", bound=Layered)


def inherits(environment: str, environments: str | None) -> bool:
    """Whether a stack of ``environment`` inherits an account secret restricted to
    ``environments`` (space-separated; None: every environment)."""
    return environments is None or environment in environments.split()


def overlay(rows: Iterable[L], environment: str) -> list[L]:
    """The effective secrets of a stack of ``environment``: the account-level rows it inherits,
    overlaid by its own rows, sorted by key.

    ``rows`` holds the live secrets of one stack and of its account (``stack_id`` None).
    """
    effective: dict[str, L] = {}
    for row in rows:
        if row.stack_id is None and not inherits(environment, row.environments):
            continue
        current = effective.get(row.key)
        if current is None or (current.stack_id is None and row.stack_id is not None):
            effective[row.key] = row
    return [effective[key] for key in sorted(effective)]


def overlaid(rows: Iterable[L], environment: str) -> tuple[list[L], frozenset[str]]:
    """``overlay(rows, environment)``, and the keys whose stack row overrides an account secret
    the stack inherits (one its environment is not given is not overridden: it is not there)."""
    listed = list(rows)
    inherited = {
        r.key for r in listed if r.stack_id is None and inherits(environment, r.environments)
    }
    own = {r.key for r in listed if r.stack_id is not None}
    return overlay(listed, environment), frozenset(inherited & own)
