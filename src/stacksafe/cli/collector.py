"""The cyclic garbage collector while the `stacksafe` command starts: off until the command has
imported and opened what it needs, then on again with all of that frozen.

A start allocates hundreds of thousands of objects (Typer and pydantic, SQLAlchemy, the core,
FastAPI building its routes), none of them garbage, and each lives as long as the process; the
collector's passes over them as they were made were about a tenth of a start's CPU
(bench/README.md, "Start-up"). Only ``main()`` pauses it (a process of its own): the command's
functions run in-process too (Typer's CliRunner in the tests), where ``started`` does nothing.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "resume", "started"]

_paused = False


def pause() -> None:
    """``main()``, first: no cyclic collection until ``started`` (reference counting frees as
    always)."""
    global _paused
    _paused = gc.isenabled()
    gc.disable()


def started() -> None:
    """The command has what it needs (its installation opened, its client made, its server about
    to serve, its child supervised, its scan begun): freeze what is loaded, so that the collector
    never scans it again, and let it run. Nothing without ``pause`` first."""
    global _paused
    if _paused:
        gc.freeze()
        resume()


def resume() -> None:
    """The collector on again, if ``pause`` stopped it (``main()`` on its way out)."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()
