"""The pattern rules stacksafe ships: every family's rules in one catalogue.

Each family module (one kind of issuer or one kind of context) exports ``RULES``; ids are
unique across the catalogue (tests/scan/rules/test_catalogue.py).
"""

from __future__ import annotations

from stacksafe.scan.rules import (
    ai,
    apis,
    assignments,
    chat,
    cloud,
    commands,
    commerce,
    devtools,
    hosting,
    jwt,
    keys,
    kubernetes,
    mail,
    observability,
    payments,
    productivity,
    registries,
    social,
    trading,
    urls,
    vcs,
)
from stacksafe.scan.rules.model import Rule

__all__ = ["RULES", "Rule"]

RULES: tuple[Rule, ...] = (
    *keys.RULES,
    *assignments.RULES,
    *commands.RULES,
    *urls.RULES,
    *kubernetes.RULES,
    *jwt.RULES,
    *cloud.RULES,
    *hosting.RULES,
    *vcs.RULES,
    *registries.RULES,
    *devtools.RULES,
    *observability.RULES,
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
