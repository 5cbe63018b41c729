"""JSON Web Tokens (rules/jwt.py)."""

from __future__ import annotations

import base64
import json

from tests.scan.rules.helpers import fake, found


def _part(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


HEADER = _part({"alg": "HS256", "typ": "JWT"})
PAYLOAD = _part({"sub": "svc-deploy", "iat": 1735689600, "scope": "admin"})
SIGNATURE = fake(40, 43, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_signed_token_is_found() -> None:
    text = f'headers = {{\n  "Authorization": "Token {HEADER}.{PAYLOAD}.{SIGNATURE}"\n}}'
    assert found(text) == [("jwt-token", 2, 27)]


def test_an_unsigned_token_is_found() -> None:
    unsigned = f"{_part({'alg': 'none'})}.{PAYLOAD}."
    assert [r for r, _, _ in found(f"t = {unsigned}")] == ["jwt-token"]


def test_a_two_part_token_is_found_lookalikes_are_not() -> None:
    assert [r for r, _, _ in found(f"{HEADER}.{PAYLOAD}")] == ["jwt-token"]
    not_json = "eyJ" + fake(41, 30) + ".eyJ" + fake(42, 30) + "." + SIGNATURE
    for text in ("eyJhbGciOi.eyJzdWIi.x", not_json, f"{HEADER}.notapayload{SIGNATURE}"):
        assert found(text) == [], text
