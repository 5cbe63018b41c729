"""The pattern rules stacksafe ships: every family's rules in one catalogue.

Each family module (one kind of issuer or one kind of context) exports ``RULES``; ids are
unique across the catalogue (tests/scan/rules/test_catalogue.py).
"""

from __future__ import annotations

from stacksafe.scan.rules import assignments, commands, jwt, keys, kubernetes, urls
from stacksafe.scan.rules.model import Rule

__all__ = ["RULES", "Rule"]

RULES: tuple[Rule, ...] = (
    *keys.RULES,
    *assignments.RULES,
    *commands.RULES,
    *urls.RULES,
    *kubernetes.RULES,
    *jwt.RULES,
)
