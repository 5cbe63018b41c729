"""A command group whose sub-commands are built only when used: a command's module is imported,
and Typer builds its click command, the first time the command is looked up.

Typer builds every command of an app, and the app's modules import their dependencies, on each
start; `stacksafe secrets list` needs one group of sixteen. Listing the commands (`stacksafe
--help`, completion of `stacksafe <TAB>`) still builds all of them: their help lines are theirs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:  # Typer 0.29 runs on its own copy of click (stacksafe.cli.main._invoke)
    from typer._click import Command, Context

__all__ = ["LazyEntry", "LazyGroup"]


@dataclass(frozen=True)
class LazyEntry:
    """Where a command is: ``attribute`` of module ``stacksafe.cli.<module>``, a Typer app (a
    group of commands) or a function (one command, with its ``context_settings``)."""

    module: str
    attribute: str
    context_settings: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> ModuleType:
        """The module, imported by the import statement's machinery: importlib.import_module
        would not show in ``-X importtime`` reports, which tests/cli/test_import_guard.py and
        tests/cli/test_lazy_commands.py read to see what a command loads."""
        return __import__(f"stacksafe.cli.{self.module}", fromlist=[self.attribute])

    def build(self, name: str, settings: Mapping[str, Any]) -> Command:
        """The click command Typer makes of it, as it would inside the parent app: built
        through a one-entry app with the parent's ``settings`` (Typer passes the parent's, not
        the sub-app's, to every command it builds)."""
        target = getattr(self.load(), self.attribute)
        holder = typer.Typer(add_completion=False, **settings)
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=name)
            group = typer.main.get_command(holder)
            if not isinstance(group, TyperGroup):  # what Typer builds of an app of groups
                raise TypeError(f"{self.module}.{self.attribute}: not a group of commands")
            return group.commands[name]
        holder.command(name, context_settings=dict(self.context_settings) or None)(target)
        return typer.main.get_command(holder)


class _Commands(MutableMapping[str, "Command"]):
    """The group's ``commands``: every name known from the start, each built on first access."""

    def __init__(
        self,
        entries: Mapping[str, LazyEntry],
        settings: Mapping[str, Any],
        built: Mapping[str, Command],
    ) -> None:
        self._entries = entries
        self._settings = settings
        self._built = dict(built)  # commands registered on the app itself, built by Typer

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            self._built[name] = self._entries[name].build(name, self._settings)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("a lazy group's commands are fixed")

    def __iter__(self) -> Iterator[str]:
        yield from self._entries
        yield from (name for name in self._built if name not in self._entries)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class LazyGroup(TyperGroup):
    """A ``TyperGroup`` over ``entries`` (a subclass names them), listed in their order.

    ``settings``: the keyword arguments the ``typer.Typer`` whose ``cls`` this is was made with.
    Typer hands them down to every command it builds (``rich_markup_mode``, ...), so each
    command built here is built with them too."""

    entries: ClassVar[Mapping[str, LazyEntry]] = {}
    settings: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.entries, self.settings, self.commands)

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # the names alone: a listing need not build anything
