"""The values a scan looks for: every level the caller may reveal, fetched like an export.

Locally through core (the local actor), remotely through the SDK: either way each level is
audited as a reveal with purpose ``scan``. Values stay in memory, wrapped in
``SecretValue``; nothing is written anywhere. A value inherited by a stack is reported where it
lives: the account level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stacksafe.cli.backend import remote_client
from stacksafe.cli.common import local_actor, opened_installation
from stacksafe.client.models import Account, Stack
from stacksafe.core import secrets
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target, list_accounts, list_stacks, resolve_target
from stacksafe.errors import ConfigurationError, Forbidden, InvalidInput
from stacksafe.model import Secret, SecretValue
from stacksafe.scan.findings import Location

if TYPE_CHECKING:
    from stacksafe.client import Client

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


def _local_targets(
    installation: Installation, stack: str | None, account: str | None
) -> list[Target]:
    actor = local_actor()
    if stack is not None:
        return [resolve_target(installation, account=account, stack=stack)]
    accounts = list_accounts(installation, actor)
    if account is not None:
        accounts = [resolve_target(installation, account=account, stack=None).account]
    by_id = {a.id: a for a in accounts}
    targets = [Target(a) for a in accounts]
    for found in list_stacks(installation, actor, account_ref=account):
        if found.account_id in by_id:
            targets.append(Target(by_id[found.account_id], found))
    return targets


def _local(data_dir: Path | None, stack: str | None, account: str | None) -> ManagedValues:
    values = ManagedValues()
    actor = local_actor()
    try:
        with opened_installation(data_dir) as installation:
            for target in _local_targets(installation, stack, account):
                found = secrets.list_secrets(
                    installation, actor, target, reveal=True, purpose=PURPOSE
                )
                level = None if target.stack is None else target.stack.name
                values.add(target.account.name, level, found)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"{exc.message} (to scan with the pattern detector only: --no-known-values)"
        ) from None
    return values


def _reveal(client: Client, values: ManagedValues, level: Account | Stack) -> None:
    is_stack = isinstance(level, Stack)
    account = level.account_name if isinstance(level, Stack) else level.name
    stack = level.name if is_stack else None
    try:
        found = client.list_secrets(
            stack=level.uid if is_stack else None,
            account=None if is_stack else level.uid,
            reveal=True,
            purpose=PURPOSE,
        )
    except Forbidden:
        values.forbidden.append(f"stack {stack}" if is_stack else f"account {account}")
        return
    values.add(account, stack, found)


def _remote(client: Client, stack: str | None, account: str | None) -> ManagedValues:
    values = ManagedValues()
    if stack is not None:
        stacks = client.stacks(name=stack, account=account)
        if not stacks:
            stacks = [s for s in client.stacks(account=account) if s.uid == stack]
        if len(stacks) != 1:
            problem = "does not exist" if not stacks else "exists in several accounts"
            raise InvalidInput(f"stack {stack!r} {problem}; name it by uid or add --account")
        _reveal(client, values, stacks[0])
        return values
    accounts = client.accounts()
    if account is not None:
        accounts = [a for a in accounts if account in (a.uid, a.name)]
        if not accounts:
            raise InvalidInput(f"account {account!r} does not exist")
    for found in accounts:
        _reveal(client, values, found)
        for level in client.stacks(account=found.uid):
            _reveal(client, values, level)
    return values


def managed_values(data_dir: Path | None, stack: str | None, account: str | None) -> ManagedValues:
    """The values of ``stack`` (its effective set), of ``account`` (its own level and each of
    its stacks), or of every level the caller can see."""
    with remote_client() as client:
        if client is None:
            return _local(data_dir, stack, account)
        return _remote(client, stack, account)
