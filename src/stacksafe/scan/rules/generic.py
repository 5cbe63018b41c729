"""Secrets recognised by their context rather than their shape: keys in PEM blocks, and values
assigned to names that say they are secret."""

from __future__ import annotations

import re

from stacksafe.scan.rules.model import Rule, assigned

__all__ = ["RULES"]

RULES: tuple[Rule, ...] = (
    Rule(
        id="private-key",
        description="Private key",
        keywords=("private key-----",),
        pattern=re.compile(
            r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY-----"
            r"(?P<secret>[\s\S]{64,}?)-----END[ A-Z0-9_-]{0,100}PRIVATE KEY-----"
        ),
        lines=200,
        placeholders=False,
    ),
    assigned(
        "generic-password",
        "Password assigned in code or configuration",
        ("password", "passwd", "pwd"),
        r"[^\s'\"`;,]{6,}",
        min_entropy=2.5,
        generic=True,
    ),
)
