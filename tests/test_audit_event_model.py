"""The audit event is declared once (model.AuditEvent): its wire form, the API's schema and the
store's rows are made from its fields."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from stacksafe.api.schemas import AuditEventOut
from stacksafe.model import AuditEvent, wire_names
from stacksafe.store.audit import EVENT_FIELDS
from stacksafe.store.schema import audit_events

EVENT = AuditEvent(
    7,
    datetime(2026, 1, 15, 10, 30, 0, 250_000, tzinfo=UTC),
    "ci@example.com",
    "tok_0123456789abcdef",
    "10.0.0.1",
    "req-1",
    "secret.reveal",
    "ok",
    "acc",
    "stk",
    {"keys": {"A": 1}},
)


def test_the_wire_form_names_and_order() -> None:
    assert EVENT.to_json() == {
        "seq": 7,
        "at_iso": "2026-01-15T10:30:00Z",
        "actor": "ci@example.com",
        "token_id": "tok_0123456789abcdef",
        "source_ip": "10.0.0.1",
        "request_id": "req-1",
        "action": "secret.reveal",
        "outcome": "ok",
        "account_uid": "acc",
        "stack_uid": "stk",
        "detail": {"keys": {"A": 1}},
    }
    assert list(EVENT.to_json()) == [wire for _, wire in wire_names(AuditEvent)]


def test_the_wire_form_reads_back() -> None:
    whole_seconds = dataclasses.replace(EVENT, at=EVENT.at.replace(microsecond=0))
    assert AuditEvent.from_json(EVENT.to_json()) == whole_seconds


def test_the_api_schema_is_made_from_the_model() -> None:
    assert list(AuditEventOut.model_fields) == [wire for _, wire in wire_names(AuditEvent)]
    assert AuditEventOut.model_validate(EVENT.to_json()).model_dump() == EVENT.to_json()


def test_the_store_reads_every_field_from_its_column() -> None:
    assert tuple(f.name for f in dataclasses.fields(AuditEvent)) == EVENT_FIELDS
    assert set(EVENT_FIELDS) <= set(audit_events.c.keys())
