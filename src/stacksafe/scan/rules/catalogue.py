"""The catalogue of pattern rules stacksafe ships: every family's rules, compiled on import.

Each family module (one kind of issuer or one kind of context) exports ``RULES``; ids are
unique across the catalogue (tests/scan/rules/test_catalogue.py). The service families' rules
all pass through one policy (services.py: masks dropped, typed bodies of an exact format kept).
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
from stacksafe.scan.rules.services import service_rules

__all__ = ["RULES", "Rule"]

RULES: tuple[Rule, ...] = (
    *keys.RULES,
    *assignments.RULES,
    *commands.RULES,
    *urls.RULES,
    *kubernetes.RULES,
    *jwt.RULES,
    *service_rules(
        rule
        for family in (
            cloud,
            hosting,
            vcs,
            registries,
            devtools,
            observability,
            chat,
            mail,
            payments,
            trading,
            commerce,
            ai,
            social,
            productivity,
            apis,
        )
        for rule in family.RULES
    ),
)
