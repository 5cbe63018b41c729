"""The policy every service-token rule shares: a mask in a token's place is no token.

The catalogue applies it to every rule of the service families (a token with an issuer's prefix,
a value after a service's name), so both families drop the same stand-ins the same way: a match
whose secret is a mask or a template (``sk_live_xxxxx``, ``hf_<your token>``, ``${TOKEN}``) is
dropped. A typed body of the issuer's exact prefix, length and alphabet (``sk_live_aBcDe...
1234567890``) is kept: it is most likely a real token or a copy of one (the peers' fixtures and
gitleaks report it; docs/scanning.md, "Typed tokens"). A value without a prefix must also look
drawn: ``keyed`` rules check that themselves (checks.drawn).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from stacksafe.scan.rules.checks import masked
from stacksafe.scan.rules.model import Rule

__all__ = ["service_rules"]


def _unmasked(check: Callable[[str], bool] | None) -> Callable[[str], bool]:
    """``check`` (if any), and not a mask."""
    if check is None:
        return lambda secret: not masked(secret)
    return lambda secret: check(secret) and not masked(secret)


def service_rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """The rules, each refusing a mask instead of the generic placeholder filter (whose
    counting sequences and words such as "sample" would drop typed copies of real tokens)."""
    return tuple(
        dataclasses.replace(rule, check=_unmasked(rule.check), placeholders=False) for rule in rules
    )
