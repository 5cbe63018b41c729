"""The Python SDK: ``stacksafe.Client`` speaks the HTTP API (httpx) and raises stacksafe's errors.

>>> from stacksafe import Client
>>> client = Client("https://stacksafe.example:8200", token)          # doctest: +SKIP
>>> client.reveal(stack="3f2a...")["DATABASE_PASSWORD"].reveal()   # doctest: +SKIP

Methods return the API's resources as frozen dataclasses (``stacksafe.client.models``: Account,
Stack, Token, VersionEntry, RotationStatus, AuditEvent ...) and secrets as
``stacksafe.model.Secret`` (from a list, each with its version and provenance: ``SecretMeta``).
Errors come back as the classes the server raised (``NotFound``, ``Forbidden``, ``Conflict``,
``RateLimited`` ...); an answer that is not what the API documents raises ``MalformedResponse``
naming the field.

The models import without httpx (the CLI's local mode answers in them too); ``Client`` and
``error_from_response`` bring it in on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stacksafe.client.fields import MalformedResponse
from stacksafe.client.login import JwtLogin
from stacksafe.client.models import (
    Account,
    AuditEvent,
    AuditVerification,
    ChangeNote,
    CreatedToken,
    DeletedHistory,
    DeletedLevel,
    DiffEntry,
    ImportReport,
    Membership,
    RemovedRole,
    RemovedUser,
    RollbackReport,
    RotationOutcome,
    RotationPolicy,
    RotationStatus,
    SecretMeta,
    Stack,
    StackChange,
    StackRole,
    StreamInterrupted,
    Token,
    User,
    VersionEntry,
)
from stacksafe.errors import Throttled
from stacksafe.model import Secret, SecretValue, Webhook

if TYPE_CHECKING:
    from stacksafe.client.changes import ChangeStream
    from stacksafe.client.connection import Client
    from stacksafe.client.transport import error_from_response

__all__ = [
    "Account",
    "AuditEvent",
    "AuditVerification",
    "ChangeNote",
    "ChangeStream",
    "Client",
    "CreatedToken",
    "DeletedHistory",
    "DeletedLevel",
    "DiffEntry",
    "ImportReport",
    "JwtLogin",
    "MalformedResponse",
    "Membership",
    "RateLimited",
    "RemovedRole",
    "RemovedUser",
    "RollbackReport",
    "RotationOutcome",
    "RotationPolicy",
    "RotationStatus",
    "Secret",
    "SecretMeta",
    "SecretValue",
    "Stack",
    "StackChange",
    "StackRole",
    "StreamInterrupted",
    "Token",
    "User",
    "VersionEntry",
    "Webhook",
    "error_from_response",
]

RateLimited = Throttled


def __getattr__(name: str) -> object:
    if name == "Client":
        from stacksafe.client.connection import Client

        return Client
    if name == "ChangeStream":
        from stacksafe.client.changes import ChangeStream

        return ChangeStream
    if name == "error_from_response":
        from stacksafe.client.transport import error_from_response

        return error_from_response
    raise AttributeError(f"module 'stacksafe.client' has no attribute {name!r}")
