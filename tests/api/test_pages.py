"""Rendered list bodies (api/pages.py): given again while the level is unchanged; a level's
older revisions dropped at once (their plaintext must not outlive the value); bounded in bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

from stacksafe.api.pages import RenderedPages
from stacksafe.core.reveal import Receipt, Revealed, Snapshot
from stacksafe.core.tenancy import Target
from stacksafe.model import Secret
from tests.actors import LOCAL


def _revealed(level: str, revision: str) -> Revealed:
    # The pages see only the snapshot: no level needs to exist for them.
    return Revealed(LOCAL, cast(Target, None), [], Receipt(None), Snapshot(level, revision))


def _render(body: bytes) -> tuple[list[int], Callable[[Sequence[Secret]], bytes]]:
    calls: list[int] = []

    def render(secrets: Sequence[Secret]) -> bytes:
        calls.append(1)
        return body

    return calls, render


def test_a_body_is_rendered_once_per_revision_and_older_revisions_are_dropped() -> None:
    pages = RenderedPages(10_000)
    calls, render = _render(b"x" * 100)
    for _ in range(3):
        assert pages.body(_revealed("web", "r1"), "reveal", render) == b"x" * 100
    assert len(calls) == 1
    pages.body(_revealed("web", "r1"), "masked", render)
    pages.body(_revealed("api", "r9"), "reveal", render)
    assert pages.kept_bytes == 300

    pages.body(_revealed("web", "r2"), "reveal", render)
    # web's two r1 bodies are gone at once, not when the byte bound would push them out.
    assert pages.kept_bytes == 200
    pages.body(_revealed("web", "r1"), "reveal", render)  # a reveal still in flight at r1
    assert len(calls) == 5
    assert pages.kept_bytes == 200  # ... replaces r2's body: one revision per level


def test_the_byte_bound_drops_the_least_recently_used() -> None:
    pages = RenderedPages(250)
    _, render = _render(b"y" * 100)
    for level in ("a", "b", "c"):
        pages.body(_revealed(level, "r"), "reveal", render)
    assert pages.kept_bytes == 200
    calls, again = _render(b"y" * 100)
    pages.body(_revealed("c", "r"), "reveal", again)
    assert calls == []  # c is kept; a was dropped
    pages.body(_revealed("a", "r"), "reveal", again)
    assert calls == [1]
