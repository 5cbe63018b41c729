"""The SDK's models of secrets: a secret and what a list says of it, bulk-write reports, diffs,
versions, rollbacks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from stacksafe.client.fields import Fields
from stacksafe.model import Secret, SecretValue, iso8601

__all__ = [
    "DiffEntry",
    "ImportReport",
    "RollbackReport",
    "SecretMeta",
    "VersionEntry",
    "secret_from_json",
]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso8601(moment)


@dataclass(frozen=True, slots=True)
class SecretMeta:
    """What a list says of one secret beside its six fields (the envelope's ``meta`` by key):
    its current ``version``, whether a stack's own key ``overrides`` an account secret the
    stack inherits, and an account secret's ``environments`` restriction (None: all)."""

    version: int
    overrides: bool
    environments: tuple[str, ...] | None

    @classmethod
    def from_json(cls, data: object, name: str = "SecretMeta") -> SecretMeta:
        f = Fields(data, name)
        return cls(f.integer("version"), f.flag("overrides"), f.texts_or_none("environments"))

    @classmethod
    def of_page(cls, envelope: Fields) -> dict[str, SecretMeta]:
        """The ``meta`` of a list's page by key; empty from a server that sends none."""
        if not envelope.has("meta"):
            return {}
        return {
            key: cls.from_json(entry, f"ListEnvelope.meta.{key}")
            for key, entry in envelope.mapping("meta").items()
        }


def secret_from_json(data: object, version: int = 0, meta: SecretMeta | None = None) -> Secret:
    """A ``SecretOut`` body; ``version`` 0 when not known (single reads have the ETag); from a
    list, its ``meta`` entry gives the version and the provenance."""
    f = Fields(data, "Secret")
    return Secret(
        key=f.text("key"),
        value=f.text("value"),
        inherited=f.flag("inherited"),
        version=version if meta is None else meta.version,
        created_at=f.moment("created_at_iso"),
        updated_at=f.moment("updated_at_iso"),
        raw_value=f.secret_or_none("raw_value"),
        overrides=False if meta is None else meta.overrides,
        environments=None if meta is None else meta.environments,
    )


@dataclass(frozen=True, slots=True)
class ImportReport:
    """The keys a bulk write (import, copy) added, changed, and left as they were."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]

    @classmethod
    def from_json(cls, data: object) -> ImportReport:
        f = Fields(data, "ImportReport")
        return cls(f.texts("added"), f.texts("changed"), f.texts("unchanged"))


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One key of two stacks compared: ``only_left``, ``only_right``, ``differs`` or ``same``."""

    key: str
    state: str
    left_version: int | None
    right_version: int | None
    left_inherited: bool | None
    right_inherited: bool | None

    @classmethod
    def from_json(cls, data: object) -> DiffEntry:
        f = Fields(data, "DiffEntry")
        return cls(
            key=f.text("key"),
            state=f.text("state"),
            left_version=f.integer_or_none("left_version"),
            right_version=f.integer_or_none("right_version"),
            left_inherited=f.flag_or_none("left_inherited"),
            right_inherited=f.flag_or_none("right_inherited"),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "state": self.state,
            "left_version": self.left_version,
            "right_version": self.right_version,
            "left_inherited": self.left_inherited,
            "right_inherited": self.right_inherited,
        }


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """One version of a key: who wrote it (``set``, ``delete``, ``rollback``, ``undelete``),
    when, and its value (encrypted; plaintext only when revealed; None once destroyed)."""

    version: int
    action: str
    author: str
    created_at: datetime
    current: bool
    deleted: bool
    destroyed: bool
    destroyed_at: datetime | None
    value: str | None
    raw_value: SecretValue | None

    @classmethod
    def from_json(cls, data: object) -> VersionEntry:
        f = Fields(data, "VersionEntry")
        return cls(
            version=f.integer("version"),
            action=f.text("action"),
            author=f.text("author"),
            created_at=f.moment("created_at_iso"),
            current=f.flag("current"),
            deleted=f.flag("deleted"),
            destroyed=f.flag("destroyed"),
            destroyed_at=f.moment_or_none("destroyed_at_iso"),
            value=f.text_or_none("value"),
            raw_value=f.secret_or_none("raw_value"),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "action": self.action,
            "author": self.author,
            "created_at_iso": iso8601(self.created_at),
            "current": self.current,
            "deleted": self.deleted,
            "destroyed": self.destroyed,
            "destroyed_at_iso": _iso(self.destroyed_at),
            "value": self.value,
            "raw_value": None if self.raw_value is None else self.raw_value.reveal(),
        }


@dataclass(frozen=True, slots=True)
class RollbackReport:
    """A level rolled back to a moment: key → the version restored; keys deleted (they did not
    exist then) and unchanged."""

    to: datetime
    restored: Mapping[str, int]
    deleted: tuple[str, ...]
    unchanged: tuple[str, ...]

    @classmethod
    def from_json(cls, data: object) -> RollbackReport:
        f = Fields(data, "RollbackReport")
        restored = f.nested("restored")
        return cls(
            to=f.moment("to_iso"),
            restored={key: restored.integer(key) for key in f.mapping("restored")},
            deleted=f.texts("deleted"),
            unchanged=f.texts("unchanged"),
        )
