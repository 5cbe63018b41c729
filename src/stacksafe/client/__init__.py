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

Every name is imported on first use (PEP 562): ``Client`` and ``error_from_response`` bring in
httpx, the models do not (the CLI's local mode answers in them too), and importing one module of
the package (`run`'s light reader, ``client/light.py``) loads none of the others.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stacksafe.client.changes import ChangeStream
    from stacksafe.client.connection import Client
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
    from stacksafe.client.transport import error_from_response
    from stacksafe.errors import Throttled as RateLimited
    from stacksafe.model import Secret, SecretValue, Webhook

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

# Where each name is defined: imported from there on first use.
_HOMES = {
    "Account": "stacksafe.client.models",
    "AuditEvent": "stacksafe.client.models",
    "AuditVerification": "stacksafe.client.models",
    "ChangeNote": "stacksafe.client.models",
    "ChangeStream": "stacksafe.client.changes",
    "Client": "stacksafe.client.connection",
    "CreatedToken": "stacksafe.client.models",
    "DeletedHistory": "stacksafe.client.models",
    "DeletedLevel": "stacksafe.client.models",
    "DiffEntry": "stacksafe.client.models",
    "ImportReport": "stacksafe.client.models",
    "JwtLogin": "stacksafe.client.login",
    "MalformedResponse": "stacksafe.client.fields",
    "Membership": "stacksafe.client.models",
    "RemovedRole": "stacksafe.client.models",
    "RemovedUser": "stacksafe.client.models",
    "RollbackReport": "stacksafe.client.models",
    "RotationOutcome": "stacksafe.client.models",
    "RotationPolicy": "stacksafe.client.models",
    "RotationStatus": "stacksafe.client.models",
    "Secret": "stacksafe.model",
    "SecretMeta": "stacksafe.client.models",
    "SecretValue": "stacksafe.model",
    "Stack": "stacksafe.client.models",
    "StackChange": "stacksafe.client.models",
    "StackRole": "stacksafe.client.models",
    "StreamInterrupted": "stacksafe.client.models",
    "Throttled": "stacksafe.errors",
    "Token": "stacksafe.client.models",
    "User": "stacksafe.client.models",
    "VersionEntry": "stacksafe.client.models",
    "Webhook": "stacksafe.model",
    "error_from_response": "stacksafe.client.transport",
}


def __getattr__(name: str) -> object:
    if name == "RateLimited":
        from stacksafe.errors import Throttled

        return Throttled
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'stacksafe.client' has no attribute {name!r}")
    # ``__import__``, not importlib: `-X importtime` reports it (the import guards of
    # tests/cli/test_import_guard.py read it).
    __import__(home)
    return getattr(sys.modules[home], name)
