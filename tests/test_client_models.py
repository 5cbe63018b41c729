"""The SDK's models: parsed from the API's JSON in one place, true to the API's schemas, and
malformed answers named by field. (Over real HTTP: tests/e2e/test_sdk.py.)"""

from __future__ import annotations

import doctest
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

import stacksafe.client
import stacksafe.client.fields
import stacksafe.client.models
from stacksafe.api import schemas
from stacksafe.api.webhook_schemas import WebhookOut
from stacksafe.client import (
    Account,
    AuditEvent,
    AuditVerification,
    CreatedToken,
    DiffEntry,
    ImportReport,
    MalformedResponse,
    RollbackReport,
    RotationOutcome,
    RotationPolicy,
    RotationStatus,
    SecretMeta,
    Stack,
    Token,
    User,
    VersionEntry,
)
from stacksafe.client.models import secret_from_json, webhook_from_json
from stacksafe.errors import ConfigurationError
from stacksafe.model import SecretValue

AT = "2026-11-20T10:00:00Z"
MOMENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

EVENT = {
    "seq": 7,
    "at_iso": AT,
    "actor": "alice@example.com",
    "token_id": "tok_0123456789abcdef",
    "source_ip": "127.0.0.1",
    "request_id": "r1",
    "action": "reveal",
    "outcome": "ok",
    "account_uid": "a1",
    "stack_uid": None,
    "detail": {"keys": {"K": 1}, "purpose": "scan"},
}
POLICY = {
    "key": "K",
    "rotate_every": 86400,
    "expires_at_iso": None,
    "rotator": "generate",
    "config": {"length": 32},
    "next_rotation_at_iso": AT,
    "last_rotated_at_iso": None,
    "last_attempt_at_iso": None,
    "last_error": None,
    "failures": 0,
    "pending_version": None,
    "pending_since_iso": None,
}
STATUS = {
    "account_uid": "a1",
    "account": "acme",
    "stack_uid": "s1",
    "stack": "web",
    "key": "K",
    "state": "due",
    "rotator": "manual",
    "due_at_iso": AT,
    "expires_at_iso": None,
    "last_rotated_at_iso": AT,
    "last_error": "boom",
    "failures": 2,
}
OUTCOME = {
    "account_uid": "a1",
    "stack_uid": None,
    "key": "K",
    "rotator": "generate",
    "outcome": "rotated",
    "version": 3,
    "error": None,
}
VERSION = {
    "version": 2,
    "action": "set",
    "author": "local:root",
    "created_at_iso": AT,
    "current": True,
    "deleted": False,
    "destroyed": False,
    "destroyed_at_iso": None,
    "value": "encrypted:AES256:AAAA",
    "raw_value": "plain",
}
DIFF = {
    "key": "K",
    "state": "differs",
    "left_version": 1,
    "right_version": None,
    "left_inherited": True,
    "right_inherited": None,
}

WEBHOOK = {
    "name": "deploys",
    "account_uid": "a1",
    "account_name": "acme",
    "stack_uid": "s1",
    "stack_name": "web",
    "origin": "https://hooks.example.test",
    "signing_key": "HOOK_KEY",
    "paused": False,
    "state": "failing",
    "cursor": 41,
    "behind": 3,
    "last_delivered_at_iso": None,
    "last_error": "the webhook deploys https://hooks.example.test answered 500",
    "last_error_at_iso": AT,
    "created_at_iso": AT,
    "created_by": "alice@example.com",
}


class _Webhooks:
    """``stacksafe.model.Webhook`` read as the SDK reads it (``webhook_from_json``)."""

    from_json = staticmethod(webhook_from_json)


# Each model printed by the CLI gives back the API's JSON, key for key and in the schema's order.
ROUND_TRIPS: list[tuple[Any, dict[str, Any], type[BaseModel]]] = [
    (AuditEvent, EVENT, schemas.AuditEventOut),
    (RotationPolicy, POLICY, schemas.RotationPolicyOut),
    (RotationStatus, STATUS, schemas.RotationStatusOut),
    (RotationOutcome, OUTCOME, schemas.RotationOutcomeOut),
    (VersionEntry, VERSION, schemas.VersionOut),
    (DiffEntry, DIFF, schemas.DiffEntryOut),
    (_Webhooks, WEBHOOK, WebhookOut),
]


@pytest.mark.parametrize(("model", "data", "schema"), ROUND_TRIPS)
def test_to_json_gives_back_the_api_json(
    model: Any, data: dict[str, Any], schema: type[BaseModel]
) -> None:
    assert list(data) == list(schema.model_fields)  # the sample is the schema's shape
    schema.model_validate(data)
    assert model.from_json(data).to_json() == data
    assert list(model.from_json(data).to_json()) == list(data)


def test_the_api_resources_parse_into_typed_fields() -> None:
    account = Account.from_json(
        schemas.AccountOut(
            id="a1",
            uid="a1",
            name="acme",
            friendly_name="acme",
            stack_count=2,
            created_at="2026-11-20 10:00:00 UTC",
            updated_at="2026-11-20 10:00:00 UTC",
            created_at_iso=AT,
            updated_at_iso=AT,
        ).model_dump()
    )
    assert account == Account("a1", "acme", 2, MOMENT, MOMENT)
    stack = Stack.from_json(
        schemas.StackOut(
            uid="s1",
            name="web",
            account_id="a1",
            account_name="acme",
            environment="production",
            created_at="x",
            updated_at="x",
            created_at_iso=AT,
            updated_at_iso=AT,
        ).model_dump()
    )
    assert (stack.account_uid, stack.account_name, stack.created_at) == ("a1", "acme", MOMENT)
    token_json = {
        "id": "tok_0123456789abcdef",
        "user": "alice@example.com",
        "scopes": ["public"],
        "stacks": None,
        "environments": ["development"],
        "created_at_iso": AT,
        "expires_at_iso": None,
        "revoked_at_iso": AT,
    }
    token = Token.from_json(schemas.TokenOut.model_validate(token_json).model_dump())
    assert (token.scopes, token.stacks, token.environments) == (("public",), None, ("development",))
    assert token.revoked_at == MOMENT
    created = CreatedToken.from_json({**token_json, "token": "ssk_value"})
    assert created.token == SecretValue("ssk_value")
    assert "ssk_value" not in repr(created)  # the value stays masked
    user = User.from_json(
        {
            "id": 3,
            "email": "bob@example.com",
            "is_owner": False,
            "accounts": [{"id": "a1", "name": "acme", "role": "viewer"}],
            "access_profile": {"stack_profiles": [{"stack_uid": "s1", "role": "deployer"}]},
            "created_at": "x",
            "created_at_iso": AT,
        }
    )
    assert user.accounts[0].account_name == "acme"
    assert user.stack_roles[0].role == "deployer"
    assert ImportReport.from_json({"added": ["A"], "changed": [], "unchanged": ["B"]}) == (
        ImportReport(("A",), (), ("B",))
    )
    report = RollbackReport.from_json(
        {"to_iso": AT, "restored": {"K": 2}, "deleted": [], "unchanged": ["L"]}
    )
    assert (report.to, dict(report.restored), report.unchanged) == (MOMENT, {"K": 2}, ("L",))
    assert RotationPolicy.from_json(POLICY).rotate_every == timedelta(days=1)
    version = VersionEntry.from_json(VERSION)
    assert version.raw_value == SecretValue("plain")
    assert "plain" not in repr(version)
    walked = AuditVerification.from_json(
        {"intact": True, "events": 5, "first_bad_seq": None, "problem": None}
    )
    assert (walked.head, walked.unanchored) == (None, False)  # older servers send neither
    secret = secret_from_json(
        {
            "key": "K",
            "value": "encrypted:AES256:AAAA",
            "raw_value": None,
            "inherited": True,
            "created_at_iso": AT,
            "updated_at_iso": AT,
        },
        4,
    )
    assert (secret.version, secret.raw_value, secret.updated_at) == (4, None, MOMENT)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**EVENT, "seq": "7"}, "AuditEvent.seq: expected an integer, got string"),
        ({**EVENT, "seq": True}, "AuditEvent.seq: expected an integer, got boolean"),
        ({k: v for k, v in EVENT.items() if k != "actor"}, "AuditEvent.actor: missing"),
        ({**EVENT, "at_iso": "yesterday"}, "AuditEvent.at_iso: expected an ISO 8601 time"),
        ({**EVENT, "detail": []}, "AuditEvent.detail: expected an object, got array"),
        ([EVENT], "AuditEvent: expected an object, got array"),
    ],
)
def test_a_malformed_answer_names_the_field(data: object, message: str) -> None:
    with pytest.raises(MalformedResponse, match=message) as raised:
        AuditEvent.from_json(data)
    assert isinstance(raised.value, ConfigurationError)  # the CLI's exit code 7


def test_a_malformed_value_is_never_quoted() -> None:
    with pytest.raises(MalformedResponse) as raised:
        VersionEntry.from_json({**VERSION, "raw_value": ["hunter2"]})
    assert "hunter2" not in str(raised.value)
    assert "VersionEntry.raw_value: expected a string, got array" in str(raised.value)


def test_nested_fields_are_named_with_their_path() -> None:
    with pytest.raises(MalformedResponse, match=r"User\.accounts\[0\]\.role: missing"):
        User.from_json(
            {
                "id": 1,
                "email": "e@example.com",
                "is_owner": True,
                "accounts": [{"id": "a1", "name": "acme"}],
                "access_profile": {"stack_profiles": []},
                "created_at_iso": AT,
            }
        )


@pytest.mark.parametrize(
    "module", [stacksafe.client, stacksafe.client.fields, stacksafe.client.models]
)
def test_the_docstring_examples_hold(module: Any) -> None:
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0
    assert attempted > 0


def test_import_stacksafe_is_light_and_exports_the_client() -> None:
    code = (
        "import sys, stacksafe\n"
        "heavy = [m for m in ('httpx', 'sqlalchemy', 'stacksafe.core') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import stacksafe.client.models\n"
        "assert 'httpx' not in sys.modules, 'the models need no HTTP'\n"
        "from stacksafe import Client\n"
        "from stacksafe.client import Client as Same\n"
        "assert Client is Same and Client.__module__ == 'stacksafe.client.connection'\n"
        "assert 'sqlalchemy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


SECRET = {
    "key": "K",
    "value": "encrypted:AES256:eA==",
    "raw_value": None,
    "inherited": False,
    "created_at_iso": AT,
    "updated_at_iso": AT,
}


def test_a_lists_meta_gives_each_secret_its_version_and_provenance() -> None:
    meta = schemas.SecretMetaOut(version=7, overrides=True, environments=None).model_dump()
    parsed = SecretMeta.from_json(meta)
    assert parsed == SecretMeta(version=7, overrides=True, environments=None)
    found = secret_from_json(schemas.SecretOut.model_validate(SECRET).model_dump(), meta=parsed)
    assert (found.version, found.overrides, found.environments) == (7, True, None)
    assert found.to_json() == SECRET  # still the six fields
    assert found.meta_json() == meta
    restricted = SecretMeta.from_json({"version": 1, "overrides": False, "environments": ["qa"]})
    assert restricted.environments == ("qa",)


def test_a_malformed_meta_is_named_by_field() -> None:
    with pytest.raises(MalformedResponse, match=r"SecretMeta\.version: expected an integer"):
        SecretMeta.from_json({"version": "2", "overrides": False, "environments": None})
    with pytest.raises(MalformedResponse, match=r"SecretMeta\.environments: expected an array"):
        SecretMeta.from_json({"version": 2, "overrides": False, "environments": "qa"})
