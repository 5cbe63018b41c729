"""Our own realistic corpus cases."""

from __future__ import annotations


def own_cases() -> list[dict[str, object]]:
    return []
