"""The pattern rules stacksafe ships: every family's rules in one catalogue.

Each family module (one kind of issuer or one kind of context) exports ``RULES``; ids are
unique across the catalogue (tests/scan/rules/test_catalogue.py).
"""

from __future__ import annotations

from stacksafe.scan.rules import (
    ai,
    apis,
    chat,
    commerce,
    generic,
    mail,
    payments,
    productivity,
    social,
    trading,
)
from stacksafe.scan.rules.model import Rule

__all__ = ["RULES", "Rule"]

RULES: tuple[Rule, ...] = (
    *generic.RULES,
    *chat.RULES,
    *mail.RULES,
    *payments.RULES,
    *trading.RULES,
    *commerce.RULES,
    *ai.RULES,
    *social.RULES,
    *productivity.RULES,
    *apis.RULES,
)
