"""The backend of local mode: the core, with the local operator's authority.

Answers in the SDK's models, as the server would: core objects that have the API's JSON
(``to_json``) go through the SDK's own parser, so local and remote output cannot drift apart.
The installation is opened on first use, so a command checks its input before it needs one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from stacksafe import client as sdk
from stacksafe.cli.backend import Level
from stacksafe.cli.local import local_actor, opened_installation
from stacksafe.core import (
    audit_chain,
    audit_events,
    deleted_levels,
    deletion,
    principals,
    promotion,
    retention,
    rotation,
    secrets,
    tenancy,
    versions,
)
from stacksafe.core.audit_checkpoint import parse_expected_head
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import parse_duration
from stacksafe.errors import InvalidInput
from stacksafe.model import Account, Secret, SecretValue, Stack, Tombstone

__all__ = ["LocalBackend", "LocalSecrets"]


def _account(account: Account, stack_count: int) -> sdk.Account:
    return sdk.Account(
        account.uid, account.name, stack_count, account.created_at, account.updated_at
    )


def _stack(stack: Stack, account: Account) -> sdk.Stack:
    return sdk.Stack(
        uid=stack.uid,
        name=stack.name,
        account_uid=account.uid,
        account_name=account.name,
        environment=stack.environment,
        created_at=stack.created_at,
        updated_at=stack.updated_at,
    )


def _user(user: principals.UserView) -> sdk.User:
    return sdk.User(
        id=user.id,
        email=user.email,
        is_owner=user.is_owner,
        accounts=tuple(
            sdk.Membership(uid, name, role)
            for uid, (name, role) in sorted(user.account_roles.items())
        ),
        stack_roles=tuple(
            sdk.StackRole(uid, role) for uid, role in sorted(user.stack_roles.items())
        ),
        created_at=user.created_at,
    )


def _deleted(deleted: deletion.DeletedLevel) -> sdk.DeletedLevel:
    return sdk.DeletedLevel(
        account_uid=deleted.account.uid,
        account_name=deleted.account.name,
        stack_uid=None if deleted.stack is None else deleted.stack.uid,
        stack_name=None if deleted.stack is None else deleted.stack.name,
        stacks=deleted.stacks,
        destroyed=dict(deleted.destroyed),
    )


def _role(removed: principals.RemovedRole) -> sdk.RemovedRole:
    return sdk.RemovedRole(
        email=removed.email,
        account_uid=removed.account.uid,
        stack_uid=None if removed.stack is None else removed.stack.uid,
        role=removed.role,
        stack_roles=dict(removed.stack_roles),
    )


def _report(
    added: Sequence[str], changed: Sequence[str], unchanged: Sequence[str]
) -> sdk.ImportReport:
    return sdk.ImportReport(tuple(added), tuple(changed), tuple(unchanged))


class LocalBackend:
    remote = False

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir, self.actor = data_dir, local_actor()
        self._closing = ExitStack()
        self._installation: Installation | None = None

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.close()

    @property
    def installation(self) -> Installation:
        if self._installation is None:
            self._installation = self._closing.enter_context(opened_installation(self.data_dir))
        return self._installation

    def _target(self, account: str | None, stack: str | None) -> Target:
        return tenancy.resolve_target(self.installation, account=account, stack=stack)

    def secrets(self, *, account: str | None, stack: str | None) -> LocalSecrets:
        return LocalSecrets(self.installation, self._target(account, stack))

    def levels(self, *, account: str | None, stack: str | None) -> Iterator[Level]:
        for target in self._targets(account, stack):
            shown = None if target.stack is None else target.stack.name
            yield Level(target.account.name, shown, LocalSecrets(self.installation, target))

    def _targets(self, account: str | None, stack: str | None) -> list[Target]:
        if stack is not None:
            return [self._target(account, stack)]
        accounts = tenancy.list_accounts(self.installation, self.actor)
        if account is not None:
            accounts = [self._target(account, None).account]
        by_id = {a.id: a for a in accounts}
        targets = [Target(a) for a in accounts]
        for found in tenancy.list_stacks(self.installation, self.actor, account_ref=account):
            if found.account_id in by_id:
                targets.append(Target(by_id[found.account_id], found))
        return targets

    def accounts(self) -> list[sdk.Account]:
        found = tenancy.list_accounts(self.installation, self.actor)
        stacks = tenancy.list_stacks(self.installation, self.actor)
        return [_account(a, sum(s.account_id == a.id for s in stacks)) for a in found]

    def create_account(self, name: str) -> sdk.Account:
        return _account(tenancy.create_account(self.installation, self.actor, name), 0)

    def stacks(self, account: str | None) -> list[sdk.Stack]:
        found = tenancy.list_stacks(self.installation, self.actor, account)
        owners = {a.id: a for a in tenancy.list_accounts(self.installation, self.actor)}
        return [_stack(s, owners[s.account_id]) for s in found]

    def create_stack(self, name: str, account: str, environment: str) -> sdk.Stack:
        made = tenancy.create_stack(self.installation, self.actor, account, name, environment)
        return _stack(made, tenancy.find_account(self.installation, account))

    def delete_stack(self, stack: str, account: str | None, force: bool) -> sdk.DeletedLevel:
        return _deleted(
            deletion.delete_stack(self.installation, self.actor, stack, account, force=force)
        )

    def delete_account(self, account: str, force: bool) -> sdk.DeletedLevel:
        return _deleted(
            deletion.delete_account(self.installation, self.actor, account, force=force)
        )

    def deleted(self, account: str | None) -> list[Tombstone]:
        return deleted_levels.list_deleted(self.installation, self.actor, account)

    def deleted_history(self, uid: str) -> sdk.DeletedHistory:
        level, versions = deleted_levels.deleted_history(self.installation, self.actor, uid)
        return sdk.DeletedHistory(level, tuple(versions))

    def create_user(
        self, email: str, account: str, role: str, stack_roles: Mapping[str, str]
    ) -> None:
        principals.create_user(
            self.installation, self.actor, email, account, role, dict(stack_roles)
        )

    def users(self) -> list[sdk.User]:
        return [_user(u) for u in principals.list_users(self.installation, self.actor)]

    def remove_user(self, email: str) -> sdk.RemovedUser:
        removed = principals.remove_user(self.installation, self.actor, email)
        return sdk.RemovedUser(
            email=removed.email,
            removed_at=removed.removed_at,
            tokens_revoked=removed.tokens_revoked,
            sessions_ended=removed.sessions_ended,
            accounts=removed.accounts,
            stacks=removed.stacks,
        )

    def remove_role(self, email: str, account: str | None, stack: str | None) -> sdk.RemovedRole:
        if stack is not None:
            return _role(
                principals.remove_stack_role(self.installation, self.actor, email, stack, account)
            )
        if account is None:
            raise InvalidInput("name what to remove: --account ACCOUNT or --stack STACK")
        return _role(principals.remove_account_role(self.installation, self.actor, email, account))

    def create_token(
        self,
        user: str,
        scopes: Sequence[str],
        stacks: Sequence[str],
        environments: Sequence[str],
        expires_in: str | None,
    ) -> tuple[str, SecretValue]:
        lifetime = None if expires_in is None else parse_duration(expires_in, "--expires-in")
        made = principals.create_token(
            self.installation,
            self.actor,
            user,
            scopes=scopes,
            stacks=stacks,
            environments=environments,
            expires_in=lifetime,
        )
        return made.uid, SecretValue(made.token)

    def tokens(self, user: str | None) -> list[sdk.Token]:
        return [
            sdk.Token(
                id=t.uid,
                user=email,
                scopes=tuple(t.scopes),
                stacks=None if t.stack_uids is None else tuple(t.stack_uids),
                environments=None if t.environments is None else tuple(t.environments),
                created_at=t.created_at,
                expires_at=t.expires_at,
                revoked_at=t.revoked_at,
            )
            for t, email in principals.list_tokens(self.installation, self.actor, user)
        ]

    def revoke_token(self, token_id: str) -> None:
        principals.revoke_token(self.installation, self.actor, token_id)

    def audit_events(
        self,
        account: str | None,
        since: str | None,
        actor: str | None,
        key: str | None,
        limit: int,
    ) -> list[sdk.AuditEvent]:
        moment = None if since is None else datetime.fromisoformat(since.replace("Z", "+00:00"))
        account_uid = None
        if account is not None:
            target = tenancy.visible_target(self.installation, self.actor, account_ref=account)
            account_uid = target.account.uid
        events = audit_events.list_events(
            self.installation,
            account_uid=account_uid,
            since=moment,
            actor=actor,
            key=key,
            limit=limit,
        )
        return [sdk.AuditEvent.from_json(e.to_json()) for e in events]

    def verify_audit(
        self, checkpoints: Sequence[Path], expect_heads: Sequence[str], no_anchor: bool
    ) -> tuple[sdk.AuditVerification, int | None]:
        report = audit_chain.verify_chain(
            self.installation,
            checkpoints=checkpoints,
            expected=[parse_expected_head(text) for text in expect_heads],
            require_anchor=not no_anchor,
        )
        walked = sdk.AuditVerification(
            intact=report.intact,
            events=report.events,
            first_bad_seq=report.first_bad_seq,
            problem=report.problem,
            head=report.head,
            unanchored=report.unanchored,
        )
        return walked, len(report.anchors)

    def diff(self, left: str, right: str, account: str | None) -> list[sdk.DiffEntry]:
        found = promotion.diff_stacks(
            self.installation,
            self.actor,
            self._target(account, left),
            self._target(account, right),
        )
        return [sdk.DiffEntry.from_json(e.to_json()) for e in found]

    def copy(
        self,
        from_stack: str,
        to_stack: str,
        account: str | None,
        keys: Sequence[str] | None,
        allow_production_source: bool,
    ) -> sdk.ImportReport:
        report = promotion.copy_secrets(
            self.installation,
            self.actor,
            self._target(account, from_stack),
            self._target(account, to_stack),
            None if keys is None else list(keys),
            allow_production_source=allow_production_source,
        )
        return _report(report.added, report.changed, report.unchanged)

    def rotation_status(
        self, account: str | None, within: str, include_ok: bool
    ) -> list[sdk.RotationStatus]:
        owner = None if account is None else tenancy.find_account(self.installation, account)
        found = rotation.rotation_status(
            self.installation,
            self.actor,
            owner,
            within=parse_duration(within, "--within"),
            include_ok=include_ok,
        )
        return [sdk.RotationStatus.from_json(e.to_json()) for e in found]

    def rotate_due(
        self, account: str | None, stack: str | None, force: bool
    ) -> list[sdk.RotationOutcome]:
        owner = None if account is None else tenancy.find_account(self.installation, account)
        only = None
        if stack is not None:
            scope = self._target(account, stack)
            owner, only = scope.account, scope.stack
        done = rotation.run_due(self.installation, self.actor, owner, stack=only, force=force)
        return [sdk.RotationOutcome.from_json(o.to_json()) for o in done]


class LocalSecrets:
    def __init__(self, installation: Installation, target: Target) -> None:
        self.installation, self.target, self.actor = installation, target, local_actor()

    def describe(self) -> str:
        return self.target.describe()

    def change_stream(self) -> None:
        """None: locally there is no server to push changes; a watcher polls (cli.watch)."""
        return None

    def set(
        self,
        key: str,
        value: SecretValue,
        if_version: int | None = None,
        environments: Sequence[str] | None = None,
    ) -> Secret:
        return secrets.set_secret(
            self.installation,
            self.actor,
            self.target,
            key,
            value,
            expected_version=if_version,
            environments=environments,
        )

    def environments(self, key: str) -> list[str] | None:
        return secrets.environments_of(self.installation, self.actor, self.target, key)

    def restrict(self, key: str, environments: Sequence[str]) -> list[str] | None:
        return secrets.restrict_secret(
            self.installation, self.actor, self.target, key, environments
        )

    def get(self, key: str, reveal: bool, resolve: bool = True, label: str | None = None) -> Secret:
        if label is not None:
            return rotation.labelled_secret(
                self.installation, self.actor, self.target, key, label, reveal=reveal
            )
        return secrets.get_secret(
            self.installation, self.actor, self.target, key, reveal=reveal, resolve=resolve
        )

    def list(self, reveal: bool, resolve: bool = True, purpose: str | None = None) -> list[Secret]:
        return secrets.list_secrets(
            self.installation,
            self.actor,
            self.target,
            reveal=reveal,
            resolve=resolve,
            purpose="list" if purpose is None else purpose,  # the API's default too
        )

    def unset(self, key: str, if_version: int | None = None) -> None:
        secrets.unset_secret(
            self.installation, self.actor, self.target, key, expected_version=if_version
        )

    def import_(
        self,
        entries: Mapping[str, SecretValue],
        progress: Callable[[int, int], None] | None = None,
        *,
        raw: bool = False,
    ) -> sdk.ImportReport:
        report = secrets.import_secrets(
            self.installation, self.actor, self.target, entries, progress=progress, raw=raw
        )
        return _report(report.added, report.changed, report.unchanged)

    def values(self, purpose: str, resolve: bool = True) -> dict[str, SecretValue]:
        return secrets.effective_values(
            self.installation, self.actor, self.target, purpose=purpose, resolve=resolve
        )

    def delivery(
        self, purpose: str, resolve: bool = True
    ) -> tuple[dict[str, SecretValue], dict[str, str]]:
        return secrets.delivery(
            self.installation, self.actor, self.target, purpose=purpose, resolve=resolve
        )

    def history(self, key: str, reveal: bool) -> Sequence[sdk.VersionEntry]:
        found = versions.history(self.installation, self.actor, self.target, key, reveal=reveal)
        return [sdk.VersionEntry.from_json(e.to_json()) for e in found]

    def rollback(self, key: str, to_version: int, if_version: int | None) -> int:
        return versions.rollback_key(
            self.installation, self.actor, self.target, key, to_version, expected_version=if_version
        )

    def rollback_level(self, to: datetime) -> sdk.RollbackReport:
        report = versions.rollback_level(self.installation, self.actor, self.target, to)
        return sdk.RollbackReport(
            to=report.to,
            restored=dict(report.restored),
            deleted=tuple(report.deleted),
            unchanged=tuple(report.unchanged),
        )

    def undelete(self, key: str) -> int:
        return versions.undelete(self.installation, self.actor, self.target, key)

    def destroy(self, key: str, version: int) -> None:
        versions.destroy_version(self.installation, self.actor, self.target, key, version)

    def max_versions(self) -> int | None:
        return retention.max_versions(self.installation, self.actor, self.target)

    def set_max_versions(self, limit: int | None) -> None:
        retention.set_max_versions(self.installation, self.actor, self.target, limit)

    def rotation_policy(self, key: str) -> sdk.RotationPolicy:
        policy = rotation.get_policy(self.installation, self.actor, self.target, key)
        return sdk.RotationPolicy.from_json(policy.to_json())

    def set_rotation(
        self,
        key: str,
        every: str | None,
        expires_at: datetime | None,
        rotator: str,
        config: Mapping[str, Any],
    ) -> sdk.RotationPolicy:
        policy = rotation.set_policy(
            self.installation,
            self.actor,
            self.target,
            key,
            rotate_every=None if every is None else parse_duration(every, "--every"),
            expires_at=expires_at,
            rotator=rotator,
            config=config,
        )
        return sdk.RotationPolicy.from_json(policy.to_json())

    def clear_rotation(self, key: str) -> None:
        rotation.clear_policy(self.installation, self.actor, self.target, key)

    def rotate(self, key: str) -> sdk.RotationOutcome:
        outcome = rotation.rotate_secret(self.installation, self.actor, self.target, key)
        return sdk.RotationOutcome.from_json(outcome.to_json())
