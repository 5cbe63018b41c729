"""Rotator kinds: manual, generate, webhook and postgres, their settings, and ``Rotator``.

A policy's ``Rotator`` makes the next value and puts a pending one in place (core.rotators.webhook,
core.rotators.postgres for the two that reach outside stacksafe).

A rotator's settings are JSON and never hold a credential: the PostgreSQL admin connection and
the webhook signing key are other secrets, named by key and read (audited) at rotation time.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stacksafe.core.generate import CHARSETS, MAX_LENGTH, generate_value
from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.rotators.failure import RotationFailed
from stacksafe.core.rotators.postgres import next_connection_string, set_role_password
from stacksafe.core.rotators.webhook import call_webhook, host_of, webhook_url
from stacksafe.core.validation import validate_key
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = ["AUTOMATIC", "ROTATORS", "Lookup", "Rotator", "rotator_for", "validate_config"]

ROTATORS = ("manual", "generate", "webhook", "postgres")
AUTOMATIC = frozenset(ROTATORS) - {"manual"}
_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")

log = logging.getLogger(__name__)

Lookup = Callable[[str], SecretValue]  # another secret of the same target, by key


@dataclass(frozen=True)
class Rotator:
    """One policy's rotator: ``new_value`` makes the next value from the current one;
    ``apply`` (None for ``generate``) puts a pending value in place and tests it."""

    kind: str
    config: Mapping[str, Any]

    @property
    def pending(self) -> bool:
        """Whether the new value waits as pending until ``apply`` succeeds."""
        return self.kind in ("webhook", "postgres")

    def _generated(self) -> SecretValue:
        return generate_value(int(self.config["length"]), str(self.config["charset"]))

    def new_value(self, current: SecretValue | None) -> SecretValue:
        if self.kind != "postgres":
            return self._generated()
        return next_connection_string(current, list(self.config["roles"]), self._generated)

    def public_config(self) -> dict[str, Any]:
        """The settings as shown to people and written to the audit log: a webhook URL only as
        scheme and host (chat webhooks carry their secret in the path)."""
        shown = dict(self.config)
        if "url" in shown:
            shown["url"] = f"{host_of(str(shown['url']))}/…"
        return shown

    def apply(
        self,
        pending: SecretValue,
        event: Mapping[str, Any],
        lookup: Lookup,
        outbound: OutboundPolicy,
    ) -> None:
        try:
            if self.kind == "webhook":
                call_webhook(self.config, event, lookup, outbound)
            elif self.kind == "postgres":
                set_role_password(pending, lookup(str(self.config["admin_key"])), outbound)
        except ValueError as exc:
            # Settings stored before a check existed: a failed rotation (its claim released),
            # never an error of the server; the text may quote the settings, so log the type.
            log.warning("a %s rotation failed: %s", self.kind, type(exc).__name__)
            raise RotationFailed(f"the {self.kind} rotator's settings could not be used") from None


def rotator_for(kind: str, config_text: str) -> Rotator:
    return Rotator(kind, json.loads(config_text))


def _length_and_charset(config: Mapping[str, Any], out: dict[str, Any]) -> None:
    length = config.get("length", 32)
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= MAX_LENGTH:
        raise InvalidInput(f"length must be a whole number between 1 and {MAX_LENGTH}")
    charset = config.get("charset", "alnum")
    if charset not in CHARSETS:
        raise InvalidInput(f"charset {charset!r} is not one of {', '.join(CHARSETS)}")
    out["length"], out["charset"] = length, charset


def validate_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The rotator's settings, checked and with defaults filled in; ``InvalidInput`` naming the
    first problem otherwise."""
    if kind not in ROTATORS:
        raise InvalidInput(f"rotator {kind!r} is not one of {', '.join(ROTATORS)}")
    allowed = {
        "manual": set(),
        "generate": {"length", "charset"},
        "webhook": {"length", "charset", "url", "signing_key"},
        "postgres": {"length", "charset", "admin_key", "roles"},
    }[kind]
    unknown = sorted(set(config) - allowed)
    if unknown:
        shown = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(f"the {kind} rotator has no setting {unknown[0]!r} (settings: {shown})")
    out: dict[str, Any] = {}
    if kind == "manual":
        return out
    _length_and_charset(config, out)
    if kind == "webhook":
        out["url"] = webhook_url(config.get("url"))
        if config.get("signing_key") is not None:
            out["signing_key"] = validate_key(str(config["signing_key"]))
    elif kind == "postgres":
        if not config.get("admin_key"):
            raise InvalidInput(
                "the postgres rotator needs admin_key: the key of a secret holding a connection "
                "string for a role that may ALTER ROLE the two alternating roles"
            )
        out["admin_key"] = validate_key(str(config["admin_key"]))
        roles = config.get("roles")
        if (
            not isinstance(roles, list | tuple)
            or len(roles) != 2
            or not all(isinstance(r, str) and _ROLE.fullmatch(r) for r in roles)
            or roles[0] == roles[1]
        ):
            raise InvalidInput(
                "the postgres rotator needs roles: two different PostgreSQL role names "
                "(letters, digits, _ and $; at most 63 characters), e.g. app_a,app_b"
            )
        out["roles"] = list(roles)
    return out
