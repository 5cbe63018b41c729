"""PEM/PGP private keys, PuTTY key files and JSON Web Keys (rules/keys.py)."""

from __future__ import annotations

import json
import string

import pytest

from tests.scan.rules.helpers import fake, found, ids

B64 = string.ascii_letters + string.digits + "+/"


def _pem(label: str, seed: int = 1) -> str:
    body = fake(seed, 256, B64)
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


@pytest.mark.parametrize(
    "label",
    [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ],
)
def test_pem_private_keys_are_found_at_their_armour(label: str) -> None:
    text = "config:\n" + _pem(label)
    assert found(text) == [("private-key", 2, len(f"-----BEGIN {label}-----") + 1)]


def test_a_key_escaped_into_a_string_literal_is_found() -> None:
    body = fake(2, 128, B64)
    text = (
        f'key = "-----BEGIN RSA PRIVATE KEY-----\\n{body[:64]}\\n{body[64:]}'
        '\\n-----END RSA PRIVATE KEY-----"'
    )
    assert ids(text) == {"private-key"}


@pytest.mark.parametrize(
    "text",
    [
        _pem("ENCRYPTED PRIVATE KEY"),  # a passphrase protects it
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n"
        + fake(3, 128, B64)
        + "\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\nanything\n-----END PRIVATE KEY-----",  # no key material
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA...elided..."
        + fake(8, 64, B64)
        + "\n-----END OPENSSH PRIVATE KEY-----",
        _pem("OPENSSH FAKE PRIVATE KEY"),
        'header="-----BEGIN OPENSSH PRIVATE KEY-----"\nfooter="-----END OPENSSH PRIVATE KEY-----"',
        _pem("CERTIFICATE"),  # public
    ],
)
def test_encrypted_elided_fake_or_public_blocks_are_not_keys(text: str) -> None:
    assert "private-key" not in ids(text)


def test_putty_private_lines_are_found() -> None:
    lines = "\n".join(fake(4 + i, 64, B64) for i in range(3))
    text = (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: k\n"
        f"Public-Lines: 2\nAAAAC3NzaC1lZDI1NTE5\nAAAA\nPrivate-Lines: 3\n{lines}\n"
    )
    assert found(text) == [("putty-private-key", 8, 1)]


def test_a_jwk_with_its_private_member_is_found_a_public_one_is_not() -> None:
    d = fake(5, 43, string.ascii_letters + string.digits + "-_")
    private = json.dumps({"kty": "EC", "crv": "P-256", "x": "f83O", "d": d}, indent=2)
    public = json.dumps({"kty": "EC", "crv": "P-256", "x": fake(6, 43), "y": fake(7, 43)}, indent=2)
    assert found(private) == [("jwk-private-key", 5, 9)]
    assert "jwk-private-key" not in ids(public)
