"""Private keys written out as text: PEM and PGP blocks, PuTTY key files, JSON Web Keys.

A key is recognised by its armour (``-----BEGIN ... PRIVATE KEY-----``, ``Private-Lines:``,
``"kty"``), so a rule is anchored on it; the checks then ask for a body that could be key
material (enough base64, no ellipsis standing for the elided middle of a documentation
example). A passphrase-encrypted key (``ENCRYPTED PRIVATE KEY``, ``Proc-Type: 4,ENCRYPTED``) is
not reported: without its passphrase it opens nothing, and documentation shows many.
"""

from __future__ import annotations

import re

from stacksafe.scan.rules.model import Rule

__all__ = ["RULES"]

# Runs of base64 long enough to be encoded data, not words: a PEM line is 64 characters, the
# last one shorter; a body escaped into a string literal splits them at its "\n".
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}")
# A body shorter than this (in base64 characters) is a truncated sample, not a key.
_LEAST_BODY = 64


def _pem_body(body: str) -> bool:
    """Whether a PEM block's body could be a key: enough base64, no elision, not encrypted."""
    if "..." in body or "\u2026" in body or "4,ENCRYPTED" in body:
        return False
    runs = _BASE64_RUN.findall(body)
    total = sum(len(r) for r in runs)
    # Distinct characters: "AAAA..." or a counting run is a stand-in.
    return total >= _LEAST_BODY and len(set("".join(runs))) >= 20


def _putty_lines(body: str) -> bool:
    return sum(len(r) for r in _BASE64_RUN.findall(body)) >= _LEAST_BODY


RULES: tuple[Rule, ...] = (
    Rule(
        id="private-key",
        description="Private key",
        keywords=("private key",),
        # The armour's label names the algorithm (RSA, EC, DSA, OPENSSH, PGP ... BLOCK) or
        # nothing (PKCS#8); ENCRYPTED and made-up labels (a FAKE key in a test) are left out.
        pattern=re.compile(
            r"-----BEGIN (?!ENCRYPTED)(?![A-Z ]*FAKE)[A-Z0-9 ]{0,30}?PRIVATE KEY(?: BLOCK)?-----"
            # The body holds no other armour line (a header and a footer apart are no key).
            r"(?P<secret>(?:[^-]|-(?!----)){64,}?)"
            r"-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        ),
        check=_pem_body,
        # A post-quantum key (ML-DSA-87) is about 100 lines of base64, more with log prefixes.
        lines=250,
        placeholders=False,
    ),
    Rule(
        id="putty-private-key",
        description="PuTTY private key file",
        keywords=("private-lines:",),
        pattern=re.compile(r"Private-Lines: ?\d{1,3}\r?\n(?P<secret>[A-Za-z0-9+/=\r\n]{64,})"),
        check=_putty_lines,
        lines=80,
        placeholders=False,
    ),
    Rule(
        id="jwk-private-key",
        description="JSON Web Key with private material",
        keywords=('"kty"',),
        # The private member of a key (RFC 7518: "d" of an RSA, EC or OKP key, "k" of a
        # symmetric one) in the same object as its "kty"; public keys have neither.
        pattern=re.compile(
            r'"kty"\s{0,5}:\s{0,5}"[^"]{1,8}"[^{}]{0,2000}?"[dk]"\s{0,5}:\s{0,5}'
            r'"(?P<secret>[A-Za-z0-9_-]{20,})"'
        ),
        min_entropy=3.5,
        lines=30,
    ),
)
