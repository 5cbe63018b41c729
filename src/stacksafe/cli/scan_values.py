"""The values a scan looks for: every level the caller may reveal, fetched like an export.

Through the CLI's backend (the core with the local actor, or the server): either way each level
is audited as a reveal with purpose ``scan``. Values stay in memory, wrapped in
``SecretValue``; nothing is written anywhere. A value inherited by a stack is reported where it
lives: the account level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from stacksafe.cli.backend import backend
from stacksafe.errors import ConfigurationError, Forbidden
from stacksafe.model import Secret, SecretValue
from stacksafe.scan.findings import Location

__all__ = ["ManagedValues", "managed_values"]

PURPOSE = "scan"


@dataclass(slots=True)
class ManagedValues:
    """(location, value) pairs, and the levels the caller may not reveal (left out)."""

    entries: list[tuple[Location, SecretValue]] = field(default_factory=list)
    levels: int = 0
    forbidden: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<ManagedValues: {len(self.entries)} values of {self.levels} levels>"

    def add(self, account: str, stack: str | None, found: Iterable[Secret]) -> None:
        self.levels += 1
        for secret in found:
            if secret.raw_value is None:
                continue
            level = None if stack is None or secret.inherited else stack
            self.entries.append((Location(account, level, secret.key), secret.raw_value))


def managed_values(data_dir: Path | None, stack: str | None, account: str | None) -> ManagedValues:
    """The values of ``stack`` (its effective set), of ``account`` (its own level and each of
    its stacks), or of every level the caller can see."""
    values = ManagedValues()
    with backend(data_dir) as where:
        try:
            for level in where.levels(account=account, stack=stack):
                try:
                    found = level.secrets.list(reveal=True, purpose=PURPOSE)
                except Forbidden:
                    shown = f"stack {level.stack}" if level.stack else f"account {level.account}"
                    values.forbidden.append(shown)
                    continue
                values.add(level.account, level.stack, found)
        except ConfigurationError as exc:
            if where.remote:
                raise
            raise ConfigurationError(
                f"{exc.message} (to scan with the pattern detector only: --no-known-values)"
            ) from None
    return values
