"""Signing in with a password, bounded: throttled by what is guessed, recorded in bounded events.

Failures are counted in the database (core.guessing), so every server on it sees them:

- per email, from any address: what an attacker guesses at is one account's password, from as
  many addresses as it has. Past the limit, sign-ins to that email are refused without a
  password check, the right password included (else the limit would not slow the guessing);
  the account's API tokens and open sessions are not affected.
- per (address, email): one address reaches its limit for an email sooner, so a single
  client guessing leaves the email's wider budget to its other users.

Nothing is counted per address alone: behind a proxy or load balancer every user shares it,
and a valid password must not be refused for strangers' failures. What a flood from one
address costs is bounded by the password pool (core.password_pool), not by refusing it.

Refused sign-ins are not one audit event each (a flood would write one per attempt): per
address and minute, the 1st, 2nd, 4th, 8th ... failure is recorded, each with the count so far,
so the log shows who tried and how much in a number of events that grows with the logarithm.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacksafe.core.access import Principal
from stacksafe.core.audit import record_denied
from stacksafe.core.guessing import Counted, FailureCounts, Limit, address_counted
from stacksafe.core.installation import Installation
from stacksafe.core.sessions import SIGN_IN_ACTOR, SessionPolicy, StartedSession, start_session
from stacksafe.errors import TooManyFailures
from stacksafe.model import SecretValue
from stacksafe.store import Connection

__all__ = ["PER_ADDRESS_EMAIL", "PER_EMAIL", "SignInLimits", "SignIns", "normalised_email"]

AUDIT_WINDOW_SECONDS = 60
# 30 per quarter-hour per email: under 3,000 guesses a day at one account from any number of
# addresses, and a user mistyping a dozen times is not refused.
PER_EMAIL = Limit("sign-in-email", 30, 900)
PER_ADDRESS_EMAIL = Limit("sign-in-address-email", 10, 60)
_NEVER = 2**31 - 1  # the per-address count is for the audit log only: it refuses nothing


@dataclass(frozen=True, slots=True)
class SignInLimits:
    per_email: Limit = PER_EMAIL
    per_address_email: Limit = PER_ADDRESS_EMAIL


def normalised_email(email: str) -> str:
    """What failures are counted by: trimmed and case-folded, so that changing the case or
    the spacing of an email does not buy more guesses."""
    return email.strip().casefold()


class SignIns:
    """Password sign-ins of one server, with their failures counted in the database."""

    def __init__(self, installation: Installation, limits: SignInLimits | None = None) -> None:
        chosen = limits or SignInLimits()
        self.installation = installation
        self.per_email = FailureCounts(installation, chosen.per_email)
        self.per_address_email = FailureCounts(installation, chosen.per_address_email)
        self.per_address = FailureCounts(
            installation, Limit("sign-in-address", _NEVER, AUDIT_WINDOW_SECONDS)
        )

    def start(
        self,
        email: str,
        password: SecretValue,
        policy: SessionPolicy,
        *,
        source_ip: str | None = None,
        request_id: str | None = None,
        replacing: str | None = None,
    ) -> StartedSession:
        """``core.sessions.start_session``, counted: ``TooManyFailures`` (no password checked)
        while the email is over a limit; ``Unauthenticated`` for a wrong password. The attempt
        is counted before the password is checked, so that concurrent guesses (on any server)
        cannot each slip past the limit; a right password takes it back."""
        address = source_ip or "unknown"
        targets = self._targets(address, email)
        refused = self.installation.store.transact(
            lambda conn: self._attempt(conn, targets), "counting a sign-in"
        )
        if refused is not None:
            throttled = TooManyFailures(
                f"too many failed sign-ins for this email; retry in {refused.retry_after} s",
                retry_after=refused.retry_after,
            )
            self._denied(address, request_id, throttled.message)
            raise throttled
        started = start_session(
            self.installation,
            email.strip(),
            password,
            policy,
            source_ip=source_ip,
            request_id=request_id,
            replacing=replacing,
            denied=lambda reason: self._denied(address, request_id, reason),
        )
        self.installation.store.transact(lambda conn: self._forgive(conn, targets), "signing in")
        return started

    def _targets(self, address: str, email: str) -> list[tuple[FailureCounts, str]]:
        who = normalised_email(email)
        return [
            (self.per_email, who),
            (self.per_address_email, f"{address_counted(address)}\x00{who}"),
        ]

    @staticmethod
    def _attempt(conn: Connection, targets: list[tuple[FailureCounts, str]]) -> Counted | None:
        """Count the attempt at every target; the first refusal (every count taken back)."""
        counted: list[tuple[FailureCounts, str]] = []
        for counts, target in targets:
            verdict = counts.attempt_in(conn, target)
            if verdict.throttled:
                for done, done_target in counted:
                    done.forgive_in(conn, done_target)
                return verdict
            counted.append((counts, target))
        return None

    @staticmethod
    def _forgive(conn: Connection, targets: list[tuple[FailureCounts, str]]) -> None:
        for counts, target in targets:
            counts.forgive_in(conn, target)

    def _denied(
        self,
        address: str,
        request_id: str | None,
        reason: str,
        detail: dict[str, str] | None = None,
    ) -> None:
        """Count a refused sign-in from ``address``; record it when its count in this window
        is a power of two (1, 2, 4, 8 ...), with the count (and ``detail``)."""
        failures = self.per_address.failed(address_counted(address)).in_window
        if failures & (failures - 1):
            return
        anonymous = Principal(name=SIGN_IN_ACTOR, source_ip=address, request_id=request_id)
        # The email as typed is not recorded: it may be a password typed in the wrong field.
        record_denied(
            self.installation,
            anonymous,
            "session.start",
            reason,
            detail={**(detail or {}), "failures": failures, "window_seconds": AUDIT_WINDOW_SECONDS},
        )

    def refused(
        self,
        source_ip: str | None,
        request_id: str | None,
        reason: str,
        detail: dict[str, str] | None = None,
    ) -> None:
        """A sign-in refused elsewhere (single sign-on, core.oidc), counted and recorded in
        bounded events as a wrong password is: a flood of forged callbacks stays a few events."""
        self._denied(source_ip or "unknown", request_id, reason, detail)
