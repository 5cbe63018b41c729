"""The secrets backend of local mode: the core, with the local operator's authority."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from stacksafe.cli.local import local_actor
from stacksafe.core import rotation, secrets, versions
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import ImportReport
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import parse_duration
from stacksafe.model import Secret, SecretValue, iso8601

__all__ = ["LocalBackend"]


class LocalBackend:
    def __init__(self, installation: Installation, target: Target) -> None:
        self.installation, self.target, self.actor = installation, target, local_actor()

    def describe(self) -> str:
        return self.target.describe()

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

    def list(self, reveal: bool, resolve: bool = True) -> list[Secret]:
        return secrets.list_secrets(
            self.installation, self.actor, self.target, reveal=reveal, resolve=resolve
        )

    def unset(self, key: str, if_version: int | None = None) -> None:
        secrets.unset_secret(
            self.installation, self.actor, self.target, key, expected_version=if_version
        )

    def import_(self, entries: Mapping[str, SecretValue]) -> ImportReport:
        return secrets.import_secrets(self.installation, self.actor, self.target, entries)

    def values(self, purpose: str, resolve: bool = True) -> dict[str, SecretValue]:
        return secrets.effective_values(
            self.installation, self.actor, self.target, purpose=purpose, resolve=resolve
        )

    def history(self, key: str, reveal: bool) -> Sequence[dict[str, Any]]:
        found = versions.history(self.installation, self.actor, self.target, key, reveal=reveal)
        return [e.to_json() for e in found]

    def rollback(self, key: str, to_version: int, if_version: int | None) -> int:
        return versions.rollback_key(
            self.installation, self.actor, self.target, key, to_version, expected_version=if_version
        )

    def rollback_level(self, to: datetime) -> dict[str, Any]:
        report = versions.rollback_level(self.installation, self.actor, self.target, to)
        return {
            "to_iso": iso8601(report.to),
            "restored": report.restored,
            "deleted": report.deleted,
            "unchanged": report.unchanged,
        }

    def undelete(self, key: str) -> int:
        return versions.undelete(self.installation, self.actor, self.target, key)

    def destroy(self, key: str, version: int) -> None:
        versions.destroy_version(self.installation, self.actor, self.target, key, version)

    def max_versions(self) -> int | None:
        return versions.max_versions(self.installation, self.actor, self.target)

    def set_max_versions(self, limit: int | None) -> None:
        versions.set_max_versions(self.installation, self.actor, self.target, limit)

    def rotation_policy(self, key: str) -> dict[str, Any]:
        return rotation.get_policy(self.installation, self.actor, self.target, key).to_json()

    def set_rotation(
        self,
        key: str,
        every: str | None,
        expires_at: datetime | None,
        rotator: str,
        config: Mapping[str, Any],
    ) -> dict[str, Any]:
        return rotation.set_policy(
            self.installation,
            self.actor,
            self.target,
            key,
            rotate_every=None if every is None else parse_duration(every, "--every"),
            expires_at=expires_at,
            rotator=rotator,
            config=config,
        ).to_json()

    def clear_rotation(self, key: str) -> None:
        rotation.clear_policy(self.installation, self.actor, self.target, key)

    def rotate(self, key: str) -> dict[str, Any]:
        return rotation.rotate_secret(self.installation, self.actor, self.target, key).to_json()
