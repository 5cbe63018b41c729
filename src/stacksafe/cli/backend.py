"""Where secrets commands act: the local database (master key at hand) or a server over HTTP.

``STACKSAFE_ADDR`` set means remote: the same commands go through ``stacksafe.Client`` with
``STACKSAFE_TOKEN`` (and ``STACKSAFE_CA_BUNDLE`` for a private CA). The server then decides
who may do what and audits it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stacksafe.cli.local import opened_installation
from stacksafe.errors import ConfigurationError, InvalidInput
from stacksafe.model import Secret, SecretValue
from stacksafe.settings import ClientSettings

if TYPE_CHECKING:
    from stacksafe.client import Client
    from stacksafe.core.secrets import ImportReport

__all__ = ["SecretsBackend", "remote_client", "remote_stack_uid", "secrets_backend"]


class SecretsBackend(Protocol):
    """The secrets of one target (an account's own level, or a stack's effective set)."""

    def describe(self) -> str: ...

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

    def list(self, reveal: bool, resolve: bool = True) -> list[Secret]: ...

    def unset(self, key: str, if_version: int | None = None) -> None: ...

    def import_(self, entries: Mapping[str, SecretValue]) -> ImportReport: ...

    def values(self, purpose: str, resolve: bool = True) -> dict[str, SecretValue]: ...

    def history(self, key: str, reveal: bool) -> Sequence[dict[str, Any]]: ...

    def rollback(self, key: str, to_version: int, if_version: int | None) -> int: ...

    def rollback_level(self, to: datetime) -> dict[str, Any]: ...

    def undelete(self, key: str) -> int: ...

    def destroy(self, key: str, version: int) -> None: ...

    def max_versions(self) -> int | None: ...

    def set_max_versions(self, limit: int | None) -> None: ...

    def rotation_policy(self, key: str) -> dict[str, Any]: ...

    def set_rotation(
        self,
        key: str,
        every: str | None,
        expires_at: datetime | None,
        rotator: str,
        config: Mapping[str, Any],
    ) -> dict[str, Any]: ...

    def clear_rotation(self, key: str) -> None: ...

    def rotate(self, key: str) -> dict[str, Any]: ...


class _Remote:
    def __init__(self, client: Client, stack: str | None, account: str | None, shown: str) -> None:
        self.client, self.stack, self.account, self.shown = client, stack, account, shown

    def describe(self) -> str:
        return self.shown

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

    def list(self, reveal: bool, resolve: bool = True) -> list[Secret]:
        return self.client.list_secrets(
            stack=self.stack, account=self.account, reveal=reveal, resolve=resolve
        )

    def unset(self, key: str, if_version: int | None = None) -> None:
        self.client.delete_secret(
            key, stack=self.stack, account=self.account, if_version=if_version
        )

    def import_(self, entries: Mapping[str, SecretValue]) -> ImportReport:
        from stacksafe.core.secrets import ImportReport

        report = self.client.import_secrets(entries, stack=self.stack, account=self.account)
        return ImportReport(report["added"], report["changed"], report["unchanged"])

    def values(self, purpose: str, resolve: bool = True) -> dict[str, SecretValue]:
        shown = "".join(c if " " <= c <= "~" else "?" for c in purpose)[:200]
        return self.client.reveal(
            stack=self.stack, account=self.account, resolve=resolve, purpose=shown
        )

    def history(self, key: str, reveal: bool) -> Sequence[dict[str, Any]]:
        return self.client.history(key, stack=self.stack, account=self.account, reveal=reveal)

    def rollback(self, key: str, to_version: int, if_version: int | None) -> int:
        return self.client.rollback(
            key, to_version, stack=self.stack, account=self.account, if_version=if_version
        ).version

    def rollback_level(self, to: datetime) -> dict[str, Any]:
        return self.client.rollback_level(to.isoformat(), stack=self.stack, account=self.account)

    def undelete(self, key: str) -> int:
        return self.client.undelete(key, stack=self.stack, account=self.account).version

    def destroy(self, key: str, version: int) -> None:
        self.client.destroy_version(key, version, stack=self.stack, account=self.account)

    def max_versions(self) -> int | None:
        return self.client.max_versions(stack=self.stack, account=self.account)

    def set_max_versions(self, limit: int | None) -> None:
        self.client.set_max_versions(limit, stack=self.stack, account=self.account)

    def rotation_policy(self, key: str) -> dict[str, Any]:
        return self.client.rotation_policy(key, stack=self.stack, account=self.account)

    def set_rotation(
        self,
        key: str,
        every: str | None,
        expires_at: datetime | None,
        rotator: str,
        config: Mapping[str, Any],
    ) -> dict[str, Any]:
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

    def rotate(self, key: str) -> dict[str, Any]:
        return self.client.rotate(key, stack=self.stack, account=self.account)


def remote_stack_uid(client: Client, stack: str, account: str | None) -> str:
    matches = client.stacks(name=stack, account=account)
    if len(matches) > 1:
        owners = ", ".join(sorted(str(m["account_name"]) for m in matches))
        raise InvalidInput(
            f"stack name {stack!r} exists in accounts {owners}; name the account too "
            "(--account) or use the stack uid"
        )
    return str(matches[0]["uid"]) if matches else stack


@contextmanager
def remote_client(settings: ClientSettings | None = None) -> Iterator[Client | None]:
    """A client for ``STACKSAFE_ADDR`` (with ``STACKSAFE_TOKEN``), or None in local mode."""
    settings = settings or ClientSettings.load()
    address, token = settings.address, settings.token
    if not address:
        yield None
        return
    if not token:
        raise ConfigurationError("STACKSAFE_ADDR is set but STACKSAFE_TOKEN is not")
    from stacksafe.client import Client

    with Client(address, token, ca_bundle=settings.ca_bundle) as client:
        yield client


@contextmanager
def secrets_backend(
    data_dir: Path | None, *, account: str | None, stack: str | None
) -> Iterator[SecretsBackend]:
    with remote_client() as client:
        if client is None:
            # Imported here: the core (SQLAlchemy, the crypto) is not needed over HTTP, and
            # `stacksafe run` in remote mode should start fast.
            from stacksafe.cli.local_backend import LocalBackend
            from stacksafe.core.tenancy import resolve_target

            with opened_installation(data_dir) as installation:
                yield LocalBackend(
                    installation, resolve_target(installation, account=account, stack=stack)
                )
            return
        if account is None and stack is None:
            raise InvalidInput("name where the secrets are: --stack STACK or --account ACCOUNT")
        if stack is not None:
            uid = remote_stack_uid(client, stack, account)
            yield _Remote(client, uid, None, f"stack {stack!r}")
        else:
            yield _Remote(client, None, account, f"account {account!r}")
