"""The chained form of an audit event is exactly what it always was: ``json.dumps`` of its
fields, sorted, compact, ASCII. Every event ever hashed depends on it, byte for byte."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime
from typing import Any

import orjson

from stacksafe.core import audit_chain
from stacksafe.model import AuditEvent

ALPHABET = "abc \"\\/\n\t\x00\x1f\x7f é€😀\u2028'<>&"


def _reference(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _text(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(ALPHABET, k=size))


def _fields(rng: random.Random) -> dict[str, Any]:
    detail = {
        _text(rng, rng.randint(1, 12)): [_text(rng, 20), rng.randint(0, 10**9)]
        for _ in range(rng.choice([0, 1, 5, 40]))
    }
    return {
        "seq": rng.randint(1, 10**12),
        "at": "2026-11-28T00:00:00.123456+00:00",
        "actor": _text(rng, 15),
        "token_uid": rng.choice([None, _text(rng, 32)]),
        "source_ip": rng.choice([None, "127.0.0.1", "::1"]),
        "request_id": rng.choice([None, _text(rng, 8)]),
        "action": rng.choice(["reveal", "set", "access"]),
        "outcome": rng.choice(["ok", "denied"]),
        "account_uid": rng.choice([None, _text(rng, 32)]),
        "stack_uid": rng.choice([None, _text(rng, 32)]),
        "detail": orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode(),
    }


def test_the_canonical_form_is_json_dumps_of_the_sorted_fields() -> None:
    rng = random.Random(20261128)
    for _ in range(3000):
        fields = _fields(rng)
        assert audit_chain.canonical(fields) == _reference(fields)
        assert audit_chain.canonical(fields) == _reference(fields)  # again: the kept encoding


def test_a_detail_read_again_after_the_kept_encodings_were_cleared_is_the_same() -> None:
    rng = random.Random(7)
    fields = _fields(rng)
    fields["detail"] = json.dumps({"keys": {_text(rng, 10): _text(rng, 30) for _ in range(50)}})
    first = audit_chain.canonical(fields)
    audit_chain._encoded_details.clear()
    audit_chain._encoded_chars[0] = 0
    assert audit_chain.canonical(fields) == first == _reference(fields)


def test_the_kept_encodings_stay_within_their_bound() -> None:
    rng = random.Random(11)
    big = audit_chain.ENCODED_DETAILS_MAX_CHARS // 10
    for _ in range(30):
        fields = _fields(rng)
        fields["detail"] = json.dumps({"x": _text(rng, big // 3)})
        assert audit_chain.canonical(fields) == _reference(fields)
        assert audit_chain._encoded_chars[0] <= audit_chain.ENCODED_DETAILS_MAX_CHARS
        assert audit_chain._encoded_chars[0] == sum(
            len(k) + len(v) for k, v in audit_chain._encoded_details.items()
        )


def test_the_chain_hashes_every_field_of_the_event_model() -> None:
    """A field added to model.AuditEvent reaches the store and the API by itself, but not the
    hash: hashing it changes every event's hash, so this fails until that is decided (and
    ``HASHED_FIELDS`` says what older events are verified with)."""
    assert tuple(f.name for f in dataclasses.fields(AuditEvent)) == audit_chain.HASHED_FIELDS
    row = dict.fromkeys(audit_chain.HASHED_FIELDS)
    hashed = audit_chain.hashed_fields(1, datetime(2026, 1, 1, tzinfo=UTC), row)
    assert tuple(hashed) == audit_chain.HASHED_FIELDS
