"""What the SDK returns: the API's resources as frozen dataclasses, parsed from its JSON here.

Each class mirrors one response body of docs/api.md (``AccountOut`` → :class:`Account`, …):
times are aware UTC ``datetime`` objects (the ``*_iso`` fields), plaintext is a masked
``SecretValue``, arrays are tuples. ``from_json`` is the one place the API's JSON becomes a model;
a missing field or a wrong type raises ``MalformedResponse`` naming the field. ``to_json`` gives
back the API's JSON of the resources the CLI prints, key for key.

Secrets are ``stacksafe.model.Secret``, the type the whole code base shares. ``Account`` and
``Stack`` here are the API's view (uids, the account's name, the stack count), not the core's
rows of ``stacksafe.model``, which carry database ids the API never shows.

>>> Account.from_json({"uid": "a1b2", "name": "acme", "stack_count": 2,
...                    "created_at_iso": "2026-11-20T10:00:00Z",
...                    "updated_at_iso": "2026-11-20T10:00:00Z"}).name
'acme'
"""

from __future__ import annotations

from stacksafe.client.models.changes import ChangeNote, StackChange, StreamInterrupted
from stacksafe.client.models.operations import (
    AuditEvent,
    AuditVerification,
    RotationOutcome,
    RotationPolicy,
    RotationStatus,
)
from stacksafe.client.models.removal import (
    DeletedHistory,
    DeletedLevel,
    RemovedRole,
    RemovedUser,
    tombstone_from_json,
)
from stacksafe.client.models.secrets import (
    DiffEntry,
    ImportReport,
    RollbackReport,
    SecretMeta,
    VersionEntry,
    secret_from_json,
)
from stacksafe.client.models.tenancy import (
    Account,
    CreatedToken,
    Membership,
    Stack,
    StackRole,
    Token,
    User,
)
from stacksafe.client.models.webhooks import webhook_from_json

__all__ = [
    "Account",
    "AuditEvent",
    "AuditVerification",
    "ChangeNote",
    "CreatedToken",
    "DeletedHistory",
    "DeletedLevel",
    "DiffEntry",
    "ImportReport",
    "Membership",
    "RemovedRole",
    "RemovedUser",
    "RollbackReport",
    "RotationOutcome",
    "RotationPolicy",
    "RotationStatus",
    "SecretMeta",
    "Stack",
    "StackChange",
    "StackRole",
    "StreamInterrupted",
    "Token",
    "User",
    "VersionEntry",
    "secret_from_json",
    "tombstone_from_json",
    "webhook_from_json",
]
