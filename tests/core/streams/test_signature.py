"""core.streams.signature: what a receiver (or a change-event webhook's) checks with ``verify``."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from stacksafe.core.streams.signature import InvalidSignature, sign, verify

SECRET = b"webhook-secret-0001"
BODY = b'{"seq":1}\n{"seq":2}\n'
NOW = 1_800_000_000


def test_sign_is_the_documented_hmac() -> None:
    mac = hmac.new(SECRET, b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t=1800000000,v1={mac}"


def test_verify_accepts_its_own_signature_within_the_tolerance() -> None:
    header = sign(SECRET, BODY, NOW)
    assert verify(SECRET, BODY, header, now=NOW + 299) == NOW
    assert verify(SECRET, BODY, header, now=NOW - 299) == NOW
    # One of several v1 entries (a sender signing with an old and a new secret) is enough.
    other = sign(b"another secret", BODY, NOW).split(",")[1]
    assert verify(SECRET, BODY, f"{other}, {header}, v0=ignored", now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, "no Stacksafe-Signature header"),
        ("", "no Stacksafe-Signature header"),
        ("v1=abc", "no single t="),
        ("t=1,t=2,v1=abc", "no single t="),
        ("t=-5,v1=abc", "no single t="),
        ("t=١٢,v1=abc", "no single t="),  # digits, but not ASCII ones
        (f"t={NOW}", "no v1="),
        ("t=1800000000,v1=" + "0" * 64, "does not match"),
        ("t=1800000000,v1=é", "does not match"),
        ("t=1," + "v1=x," * 1000, "too long"),
    ],
)
def test_verify_refuses_naming_why(header: str | None, problem: str) -> None:
    with pytest.raises(InvalidSignature, match=problem) as refused:
        verify(SECRET, BODY, header, now=NOW)
    assert SECRET.decode() not in str(refused.value)


def test_verify_refuses_a_stale_or_altered_request() -> None:
    header = sign(SECRET, BODY, NOW)
    with pytest.raises(InvalidSignature, match="more than 300 s from now"):
        verify(SECRET, BODY, header, now=NOW + 301)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(SECRET, BODY + b"x", header, now=NOW)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(b"wrong secret", BODY, header, now=NOW)
    # The timestamp is inside the MAC: moving it forward breaks the signature.
    moved = header.replace(f"t={NOW}", f"t={NOW + 100}")
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(SECRET, BODY, moved, now=NOW + 100)
