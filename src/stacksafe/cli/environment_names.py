"""A warning for an environment name that nothing uses yet: `prodution` is accepted (your own
environments are allowed), but a token narrowed to it or a secret restricted to it would reach
no stack, so the command says so on stderr."""

from __future__ import annotations

from collections.abc import Collection, Iterable

import typer

from stacksafe.cli.backend import Backend
from stacksafe.model import BUILTIN_ENVIRONMENTS

__all__ = ["environments_in_use", "warn_unknown_environments"]


def environments_in_use(where: Backend) -> set[str]:
    """The environments of the stacks the caller can see (remote: those its token may list)."""
    return {stack.environment for stack in where.stacks(None)}


def warn_unknown_environments(
    where: Backend, names: Iterable[str], in_use: Collection[str] | None = None
) -> None:
    """Warn about each of ``names`` that is neither built-in nor the environment of a stack
    (``in_use``: as found before the command changed anything; looked up when not given)."""
    unknown = [name for name in dict.fromkeys(names) if name not in BUILTIN_ENVIRONMENTS]
    if not unknown:
        return
    used = environments_in_use(where) if in_use is None else in_use
    for name in unknown:
        if name not in used:
            typer.echo(
                f"Warning: environment {name!r} is not a built-in one "
                f"({', '.join(BUILTIN_ENVIRONMENTS)}) and no stack uses it: a typo?",
                err=True,
            )
