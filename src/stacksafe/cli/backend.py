"""Where commands act: the local installation (master key at hand) or a server over HTTP.

The one local/remote switch of the CLI. ``STACKSAFE_ADDR`` set means remote: every command goes
through ``stacksafe.Client`` with ``STACKSAFE_TOKEN`` (and ``STACKSAFE_CA_BUNDLE`` for a private
CA), and the server decides who may do what and audits it. Unset, the same commands go through
the core with the local operator's authority. Commands see only the two protocols below,
``Backend`` (the installation or server) and ``SecretsBackend`` (one level's secrets); both
speak the SDK's models, so a command prints the same thing either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stacksafe.cli import collector
from stacksafe.errors import ConfigurationError
from stacksafe.model import Secret, SecretValue, Tombstone
from stacksafe.settings import ClientSettings

if TYPE_CHECKING:
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
        JwtLogin,
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

__all__ = [
    "Backend",
    "Level",
    "SecretsBackend",
    "backend",
    "credential_of",
    "remote_client",
    "secrets_backend",
]


class SecretsBackend(Protocol):
    """The secrets of one target (an account's own level, or a stack's effective set)."""

    def describe(self) -> str: ...

    def change_stream(self) -> ChangeStream | None:
        """The server's push of this level's changes, or None where there is none (local
        mode, an account's own level): a watcher then polls."""
        ...

    def set(
        self,
        key: str,
        value: SecretValue,
        if_version: int | None = None,
        environments: Sequence[str] | None = None,
    ) -> Secret: ...

    def environments(self, key: str) -> list[str] | None: ...

    def restrict(self, key: str, environments: Sequence[str]) -> list[str] | None: ...

    def get(
        self, key: str, reveal: bool, resolve: bool = True, label: str | None = None
    ) -> Secret: ...

    def list(
        self, reveal: bool, resolve: bool = True, purpose: str | None = None
    ) -> list[Secret]: ...

    def unset(self, key: str, if_version: int | None = None) -> None: ...

    def import_(
        self,
        entries: Mapping[str, SecretValue],
        progress: Callable[[int, int], None] | None = None,
        *,
        raw: bool = False,
    ) -> ImportReport: ...

    def values(self, purpose: str, resolve: bool = True) -> dict[str, SecretValue]: ...

    def delivery(
        self, purpose: str, resolve: bool = True
    ) -> tuple[dict[str, SecretValue], dict[str, str]]:
        """The values whose references resolve, and the broken keys with why."""
        ...

    def history(self, key: str, reveal: bool) -> Sequence[VersionEntry]: ...

    def rollback(self, key: str, to_version: int, if_version: int | None) -> int: ...

    def rollback_level(self, to: datetime) -> RollbackReport: ...

    def undelete(self, key: str) -> int: ...

    def destroy(self, key: str, version: int) -> None: ...

    def max_versions(self) -> int | None: ...

    def set_max_versions(self, limit: int | None) -> None: ...

    def rotation_policy(self, key: str) -> RotationPolicy: ...

    def set_rotation(
        self,
        key: str,
        every: str | None,
        expires_at: datetime | None,
        rotator: str,
        config: Mapping[str, Any],
    ) -> RotationPolicy: ...

    def clear_rotation(self, key: str) -> None: ...

    def rotate(self, key: str) -> RotationOutcome: ...


@dataclass(frozen=True, slots=True)
class Level:
    """One level the caller can see: an account's own secrets (``stack`` None) or a stack's
    effective set, by name, and its secrets."""

    account: str
    stack: str | None
    secrets: SecretsBackend


class Backend(Protocol):
    """The installation, or the server: tenancy, users and tokens, audit, and what spans
    several levels (diff, copy, rotation status). ``secrets`` narrows it to one level."""

    remote: bool

    def secrets(self, *, account: str | None, stack: str | None) -> SecretsBackend: ...

    def levels(self, *, account: str | None, stack: str | None) -> Iterator[Level]:
        """``stack``; else ``account``'s own level and each of its stacks; else every level the
        caller can see, account by account."""
        ...

    def accounts(self) -> list[Account]: ...

    def create_account(self, name: str) -> Account: ...

    def stacks(self, account: str | None) -> list[Stack]: ...

    def create_stack(self, name: str, account: str, environment: str) -> Stack: ...

    def delete_stack(self, stack: str, account: str | None, force: bool) -> DeletedLevel: ...

    def delete_account(self, account: str, force: bool) -> DeletedLevel: ...

    def deleted(self, account: str | None) -> list[Tombstone]: ...

    def deleted_history(self, uid: str) -> DeletedHistory: ...

    def users(self) -> list[User]: ...

    def remove_user(self, email: str) -> RemovedUser: ...

    def remove_role(self, email: str, account: str | None, stack: str | None) -> RemovedRole:
        """``stack`` (within ``account`` when given) or else ``account``'s membership."""
        ...

    def create_user(
        self, email: str, account: str, role: str, stack_roles: Mapping[str, str]
    ) -> None: ...

    def create_token(
        self,
        user: str,
        scopes: Sequence[str],
        stacks: Sequence[str],
        environments: Sequence[str],
        expires_in: str | None,
    ) -> tuple[str, SecretValue]:
        """(the token's id, its value)."""
        ...

    def tokens(self, user: str | None) -> list[Token]: ...

    def revoke_token(self, token_id: str) -> None: ...

    def audit_events(
        self,
        account: str | None,
        since: str | None,
        actor: str | None,
        key: str | None,
        limit: int,
    ) -> list[AuditEvent]: ...

    def verify_audit(
        self, checkpoints: Sequence[Path], expect_heads: Sequence[str], no_anchor: bool
    ) -> tuple[AuditVerification, int | None]:
        """The walk, and how many anchors it was checked against (None: not told)."""
        ...

    def diff(self, left: str, right: str, account: str | None) -> list[DiffEntry]: ...

    def copy(
        self,
        from_stack: str,
        to_stack: str,
        account: str | None,
        keys: Sequence[str] | None,
        allow_production_source: bool,
    ) -> ImportReport: ...

    def rotation_status(
        self, account: str | None, within: str, include_ok: bool
    ) -> list[RotationStatus]: ...

    def rotate_due(
        self, account: str | None, stack: str | None, force: bool
    ) -> list[RotationOutcome]: ...


@contextmanager
def remote_client(settings: ClientSettings | None = None) -> Iterator[Client | None]:
    """A client for ``STACKSAFE_ADDR`` (with ``STACKSAFE_TOKEN``), or None in local mode."""
    settings = settings or ClientSettings.load()
    address = settings.address
    if not address:
        yield None
        return
    from stacksafe.client import Client

    with Client(address, credential_of(settings), ca_bundle=settings.ca_bundle) as client:
        collector.started()
        yield client


def credential_of(settings: ClientSettings) -> str | JwtLogin:
    """``STACKSAFE_TOKEN``, else a login with ``STACKSAFE_JWT_ROLE`` and ``STACKSAFE_JWT_FILE``."""
    if settings.token:
        return settings.token
    if settings.jwt_role and settings.jwt_file:
        from stacksafe.client.login import JwtLogin

        return JwtLogin(settings.jwt_role, settings.jwt_file)
    if settings.jwt_role or settings.jwt_file:
        raise ConfigurationError("set both STACKSAFE_JWT_ROLE and STACKSAFE_JWT_FILE to log in")
    raise ConfigurationError(
        "STACKSAFE_ADDR is set but STACKSAFE_TOKEN is not (nor STACKSAFE_JWT_ROLE and "
        "STACKSAFE_JWT_FILE)"
    )


@contextmanager
def backend(data_dir: Path | None) -> Iterator[Backend]:
    """The server at ``STACKSAFE_ADDR``, else the installation in ``data_dir`` (opened on first
    use, closed at the end)."""
    with remote_client() as client:
        if client is not None:
            from stacksafe.cli.remote_backend import RemoteBackend

            yield RemoteBackend(client)
            return
    # Imported here: the core (SQLAlchemy, the crypto) is not needed over HTTP, and
    # `stacksafe run` in remote mode should start fast.
    from stacksafe.cli.local_backend import LocalBackend

    with LocalBackend(data_dir) as local:
        yield local


@contextmanager
def secrets_backend(
    data_dir: Path | None, *, account: str | None, stack: str | None
) -> Iterator[SecretsBackend]:
    with backend(data_dir) as where:
        yield where.secrets(account=account, stack=stack)
