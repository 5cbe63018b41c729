"""The backend of remote mode: ``stacksafe.Client`` against ``STACKSAFE_ADDR``.

Names given on the command line are sent as they are (the server resolves account names),
except stack names, which the API takes as uids: :func:`remote_stack_uid` looks them up
(cli/remote_reads.py, which `run`'s light reader shares).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from stacksafe.cli.backend import Level
from stacksafe.cli.remote_reads import delivered, printable_purpose, stack_uid_among
from stacksafe.client import (
    Account,
    AuditEvent,
    AuditVerification,
    ChangeStream,
    Client,
    DeletedHistory,
    DeletedLevel,
    DiffEntry,
    ImportReport,
    RemovedRole,
    RemovedUser,
    RollbackReport,
    RotationOutcome,
    RotationPolicy,
    RotationStatus,
    Stack,
    Token,
    User,
    VersionEntry,
)
from stacksafe.errors import BrokenReferences, InvalidInput
from stacksafe.model import Secret, SecretValue, Tombstone

__all__ = ["RemoteBackend", "RemoteSecrets", "remote_stack_uid"]


def remote_stack_uid(client: Client, stack: str, account: str | None) -> str:
    matches = client.stacks(name=stack, account=account)
    return stack_uid_among(stack, [(m.uid, m.account_name) for m in matches])


class RemoteBackend:
    remote = True

    def __init__(self, client: Client) -> None:
        self.client = client

    def secrets(self, *, account: str | None, stack: str | None) -> RemoteSecrets:
        if account is None and stack is None:
            raise InvalidInput("name where the secrets are: --stack STACK or --account ACCOUNT")
        if stack is not None:
            uid = remote_stack_uid(self.client, stack, account)
            return RemoteSecrets(self.client, uid, None, f"stack {stack!r}")
        return RemoteSecrets(self.client, None, account, f"account {account!r}")

    def levels(self, *, account: str | None, stack: str | None) -> Iterator[Level]:
        if stack is not None:
            stacks = self.client.stacks(name=stack, account=account)
            if not stacks:
                stacks = [s for s in self.client.stacks(account=account) if s.uid == stack]
            if len(stacks) != 1:
                problem = "does not exist" if not stacks else "exists in several accounts"
                raise InvalidInput(f"stack {stack!r} {problem}; name it by uid or add --account")
            yield self._stack_level(stacks[0])
            return
        accounts = self.client.accounts()
        if account is not None:
            accounts = [a for a in accounts if account in (a.uid, a.name)]
            if not accounts:
                raise InvalidInput(f"account {account!r} does not exist")
        for found in accounts:
            shown = f"account {found.name!r}"
            yield Level(found.name, None, RemoteSecrets(self.client, None, found.uid, shown))
            for level in self.client.stacks(account=found.uid):
                yield self._stack_level(level)

    def _stack_level(self, stack: Stack) -> Level:
        level = RemoteSecrets(self.client, stack.uid, None, f"stack {stack.name!r}")
        return Level(stack.account_name, stack.name, level)

    def accounts(self) -> list[Account]:
        return self.client.accounts()

    def create_account(self, name: str) -> Account:
        return self.client.create_account(name)

    def stacks(self, account: str | None) -> list[Stack]:
        return self.client.stacks(account=account)

    def create_stack(self, name: str, account: str, environment: str) -> Stack:
        return self.client.create_stack(name, account=account, environment=environment)

    def delete_stack(self, stack: str, account: str | None, force: bool) -> DeletedLevel:
        return self.client.delete_stack(remote_stack_uid(self.client, stack, account), force=force)

    def delete_account(self, account: str, force: bool) -> DeletedLevel:
        return self.client.delete_account(account, force=force)

    def deleted(self, account: str | None) -> list[Tombstone]:
        return self.client.deleted(account=account)

    def deleted_history(self, uid: str) -> DeletedHistory:
        return self.client.deleted_history(uid)

    def create_user(
        self, email: str, account: str, role: str, stack_roles: Mapping[str, str]
    ) -> None:
        self.client.create_user(email, account=account, role=role, stack_roles=stack_roles)

    def users(self) -> list[User]:
        return self.client.users()

    def remove_user(self, email: str) -> RemovedUser:
        return self.client.remove_user(email)

    def remove_role(self, email: str, account: str | None, stack: str | None) -> RemovedRole:
        if stack is not None:
            uid = remote_stack_uid(self.client, stack, account)
            return self.client.remove_role(email, stack=uid)
        if account is None:
            raise InvalidInput("name what to remove: --account ACCOUNT or --stack STACK")
        return self.client.remove_role(email, account=account)

    def create_token(
        self,
        user: str,
        scopes: Sequence[str],
        stacks: Sequence[str],
        environments: Sequence[str],
        expires_in: str | None,
    ) -> tuple[str, SecretValue]:
        made = self.client.create_token(
            user, scopes=scopes, stacks=stacks, environments=environments, expires_in=expires_in
        )
        return made.id, made.token

    def tokens(self, user: str | None) -> list[Token]:
        return self.client.tokens(user=user)

    def revoke_token(self, token_id: str) -> None:
        self.client.revoke_token(token_id)

    def audit_events(
        self,
        account: str | None,
        since: str | None,
        actor: str | None,
        key: str | None,
        limit: int,
    ) -> list[AuditEvent]:
        filters = {"since": since, "actor": actor, "key": key}
        return self.client.audit_logs(
            account=account, limit=limit, **{k: v for k, v in filters.items() if v}
        )

    def verify_audit(
        self, checkpoints: Sequence[Path], expect_heads: Sequence[str], no_anchor: bool
    ) -> tuple[AuditVerification, int | None]:
        if checkpoints:
            raise InvalidInput(
                "--checkpoint needs the master key to check the file's MAC: run `audit "
                "verify` on the server machine (without STACKSAFE_ADDR)"
            )
        return self.client.verify_audit(expect_heads, no_anchor=no_anchor), None

    def diff(self, left: str, right: str, account: str | None) -> list[DiffEntry]:
        return self.client.diff(
            remote_stack_uid(self.client, left, account),
            remote_stack_uid(self.client, right, account),
        )

    def copy(
        self,
        from_stack: str,
        to_stack: str,
        account: str | None,
        keys: Sequence[str] | None,
        allow_production_source: bool,
    ) -> ImportReport:
        return self.client.copy(
            remote_stack_uid(self.client, from_stack, account),
            remote_stack_uid(self.client, to_stack, account),
            keys,
            allow_production_source=allow_production_source,
        )

    def rotation_status(
        self, account: str | None, within: str, include_ok: bool
    ) -> list[RotationStatus]:
        names = [account] if account else [a.uid for a in self.client.accounts()]
        return [
            e
            for name in names
            for e in self.client.rotation_status(name, within=within, include_ok=include_ok)
        ]

    def rotate_due(
        self, account: str | None, stack: str | None, force: bool
    ) -> list[RotationOutcome]:
        raise InvalidInput(
            "rotating everything due runs where the master key is (unset STACKSAFE_ADDR); "
            "over HTTP, rotate one key: rotation run --key KEY --stack S"
        )


class RemoteSecrets:
    def __init__(self, client: Client, stack: str | None, account: str | None, shown: str) -> None:
        self.client, self.stack, self.account, self.shown = client, stack, account, shown

    def describe(self) -> str:
        return self.shown

    def change_stream(self) -> ChangeStream | None:
        """A stack's changes as the server pushes them (an account's own level has no stream:
        a watcher of it polls)."""
        return None if self.stack is None else self.client.stack_changes(self.stack)

    def set(
        self,
        key: str,
        value: SecretValue,
        if_version: int | None = None,
        environments: Sequence[str] | None = None,
    ) -> Secret:
        return self.client.set_secret(
            key,
            value,
            stack=self.stack,
            account=self.account,
            if_version=if_version,
            environments=environments,
        )

    def _account_only(self) -> str:
        if self.account is None:
            raise InvalidInput("environment restrictions belong to account-level secrets")
        return self.account

    def environments(self, key: str) -> list[str] | None:
        return self.client.environments(key, account=self._account_only())

    def restrict(self, key: str, environments: Sequence[str]) -> list[str] | None:
        return self.client.restrict(key, environments, account=self._account_only())

    def get(self, key: str, reveal: bool, resolve: bool = True, label: str | None = None) -> Secret:
        return self.client.get_secret(
            key,
            stack=self.stack,
            account=self.account,
            reveal=reveal,
            resolve=resolve,
            label=label,
        )

    def list(self, reveal: bool, resolve: bool = True, purpose: str | None = None) -> list[Secret]:
        return self.client.list_secrets(
            stack=self.stack, account=self.account, reveal=reveal, resolve=resolve, purpose=purpose
        )

    def unset(self, key: str, if_version: int | None = None) -> None:
        self.client.delete_secret(
            key, stack=self.stack, account=self.account, if_version=if_version
        )

    def import_(
        self,
        entries: Mapping[str, SecretValue],
        progress: Callable[[int, int], None] | None = None,
        *,
        raw: bool = False,
    ) -> ImportReport:
        # One request: the server reports no progress, so ``progress`` is never called.
        return self.client.import_secrets(entries, stack=self.stack, account=self.account, raw=raw)

    def values(self, purpose: str, resolve: bool = True) -> dict[str, SecretValue]:
        values, broken = self.delivery(purpose, resolve)
        BrokenReferences.among(broken)
        return values

    def delivery(
        self, purpose: str, resolve: bool = True
    ) -> tuple[dict[str, SecretValue], dict[str, str]]:
        found = self.client.list_secrets(
            stack=self.stack,
            account=self.account,
            reveal=True,
            resolve=resolve,
            purpose=printable_purpose(purpose),
        )
        return delivered((s.key, s.raw_value) for s in found)

    def history(self, key: str, reveal: bool) -> Sequence[VersionEntry]:
        return self.client.history(key, stack=self.stack, account=self.account, reveal=reveal)

    def rollback(self, key: str, to_version: int, if_version: int | None) -> int:
        return self.client.rollback(
            key, to_version, stack=self.stack, account=self.account, if_version=if_version
        ).version

    def rollback_level(self, to: datetime) -> RollbackReport:
        return self.client.rollback_level(to.isoformat(), stack=self.stack, account=self.account)

    def undelete(self, key: str) -> int:
        return self.client.undelete(key, stack=self.stack, account=self.account).version

    def destroy(self, key: str, version: int) -> None:
        self.client.destroy_version(key, version, stack=self.stack, account=self.account)

    def max_versions(self) -> int | None:
        return self.client.max_versions(stack=self.stack, account=self.account)

    def set_max_versions(self, limit: int | None) -> None:
        self.client.set_max_versions(limit, stack=self.stack, account=self.account)

    def rotation_policy(self, key: str) -> RotationPolicy:
        return self.client.rotation_policy(key, stack=self.stack, account=self.account)

    def set_rotation(
        self,
        key: str,
        every: str | None,
        expires_at: datetime | None,
        rotator: str,
        config: Mapping[str, Any],
    ) -> RotationPolicy:
        return self.client.set_rotation(
            key,
            stack=self.stack,
            account=self.account,
            rotate_every=every,
            expires_at=expires_at,
            rotator=rotator,
            config=config,
        )

    def clear_rotation(self, key: str) -> None:
        self.client.clear_rotation(key, stack=self.stack, account=self.account)

    def rotate(self, key: str) -> RotationOutcome:
        return self.client.rotate(key, stack=self.stack, account=self.account)
