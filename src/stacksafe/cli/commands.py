"""The top-level commands of `stacksafe`, in the order its help lists them, and where each is
defined: a command's module is imported only when the command is used (cli/lazy_group.py)."""

from __future__ import annotations

from typing import Any

from stacksafe.cli.lazy_group import LazyEntry, LazyGroup

__all__ = ["COMMANDS", "SETTINGS", "TopLevel"]

COMMANDS: dict[str, LazyEntry] = {
    # The commands first, then the groups of commands: the order Typer listed them in.
    "init": LazyEntry("setup_cmd", "init"),
    # `secrets export`, at the top level as peers have it
    "export": LazyEntry("secrets_cmd", "export"),
    "materialize": LazyEntry("materialize_cmd", "materialize_command"),
    "serve": LazyEntry("serve_cmd", "serve"),
    "backup": LazyEntry("backup_cmd", "backup"),
    "restore": LazyEntry("backup_cmd", "restore"),
    "scan": LazyEntry("scan_cmd", "scan"),
    "run": LazyEntry("run_cmd", "run", {"allow_extra_args": True, "ignore_unknown_options": True}),
    "login": LazyEntry("login_cmd", "login"),
    "accounts": LazyEntry("tenancy_cmd", "accounts_app"),
    "stacks": LazyEntry("tenancy_cmd", "stacks_app"),
    "secrets": LazyEntry("secrets_cmd", "secrets_app"),
    "users": LazyEntry("admin_cmd", "users_app"),
    "tokens": LazyEntry("admin_cmd", "tokens_app"),
    "audit": LazyEntry("admin_cmd", "audit_app"),
    "keys": LazyEntry("keys_cmd", "keys_app"),
    "rotation": LazyEntry("rotation_cmd", "rotation_app"),
    "auth": LazyEntry("auth_cmd", "auth_app"),
    "webhooks": LazyEntry("webhooks_cmd", "webhooks_app"),
}

# What every `typer.Typer` of the command is made with; Typer hands the top-level app's down to
# each command it builds. Rich tracebacks print local variables, which may hold plaintext: never
# enable them. Help as written: Rich markup would eat `[stacksafe:KEY]` and the like.
SETTINGS: dict[str, Any] = {"pretty_exceptions_enable": False, "rich_markup_mode": None}


class TopLevel(LazyGroup):
    """The `stacksafe` group (the ``cls`` of the top-level Typer app)."""

    entries = COMMANDS
    settings = SETTINGS
