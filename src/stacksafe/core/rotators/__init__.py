"""Rotators: how a secret's next value is made, and how the system that uses it learns it.

- ``manual``: nothing is rotated automatically; the policy only drives reminders (status).
- ``generate``: a new random value, written directly (nothing outside stacksafe to tell).
- ``webhook``: a new random value is kept *pending*; the user's URL is called with its version
  (never the value: the receiver reads it with its own token, ``?label=pending``). A 2xx reply
  makes it current; anything else leaves the current value in place and reports the failure.
- ``postgres``: two database roles alternate (AWS's "alternating users", Infisical's
  "dual-phase"). The value is a connection string for one role; a rotation sets a new password
  on the *other* role, tests a connection with it, then makes it current. The role that was
  current keeps its password until the rotation after, so every client holding the previous
  value keeps working for a whole rotation period.

A rotator's settings are JSON and never hold a credential: the PostgreSQL admin connection and
the webhook signing key are other secrets, named by key and read (audited) at rotation time.

Every connection a rotator makes is on behalf of whoever wrote the policy, to a host they chose:
it goes only where ``core.outbound`` allows, to the address that was checked, and with nothing
but what the secrets say (no password, user or certificate from the server's environment, home
directory or service files). What a failed connection found is told to the server log, not to
the user: "could not connect" or "authentication failed", never the driver's text.

The kinds are core.rotators.kinds; the two that reach outside stacksafe are core.rotators.webhook
and core.rotators.postgres; ``RotationFailed`` is core.rotators.failure.
"""

from __future__ import annotations

from stacksafe.core.rotators.failure import RotationFailed
from stacksafe.core.rotators.kinds import (
    AUTOMATIC,
    ROTATORS,
    Rotator,
    rotator_for,
    validate_config,
)
from stacksafe.core.rotators.webhook import check_literal_host

__all__ = [
    "AUTOMATIC",
    "ROTATORS",
    "RotationFailed",
    "Rotator",
    "check_literal_host",
    "rotator_for",
    "validate_config",
]
