"""Comparing and copying the secrets of two stacks: drift before a deploy, and promotion.

A diff compares the effective values in memory: it says which keys differ, never how. Copying
from a production stack into a non-production one must be asked for explicitly, and is audited
with where the values came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stacksafe.core.access import Action, Principal
from stacksafe.core.audit import record_denied
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import ImportReport, import_secrets, list_secrets
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_key
from stacksafe.errors import BrokenReferences, Forbidden, InvalidInput, NotFound
from stacksafe.model import Secret, SecretValue, Stack

__all__ = ["PRODUCTION", "DiffEntry", "copy_secrets", "diff_stacks"]

PRODUCTION = "production"


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One key of two stacks' effective sets: ``only_left``, ``only_right``, ``differs`` or
    ``same``; versions and origins for context, never values."""

    key: str
    state: str
    left_version: int | None
    right_version: int | None
    left_inherited: bool | None
    right_inherited: bool | None

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "state": self.state,
            "left_version": self.left_version,
            "right_version": self.right_version,
            "left_inherited": self.left_inherited,
            "right_inherited": self.right_inherited,
        }


def _stack_of(target: Target, role: str) -> Stack:
    if target.stack is None:
        raise InvalidInput(f"the {role} must be a stack")
    return target.stack


def diff_stacks(
    installation: Installation, actor: Principal, left: Target, right: Target
) -> list[DiffEntry]:
    """Every key of either stack's effective set, compared by value fingerprint.

    Fingerprints are computed from the values, so this needs the reveal permission on both
    stacks and is audited as a reveal of each (purpose ``diff``); no value leaves the server.
    """
    _stack_of(left, "left side")
    _stack_of(right, "right side")
    left_found = {
        s.key: s for s in list_secrets(installation, actor, left, reveal=True, purpose="diff")
    }
    right_found = {
        s.key: s for s in list_secrets(installation, actor, right, reveal=True, purpose="diff")
    }
    # A key whose references are broken comes without a value: comparing it would say "same"
    # of two broken keys. The diff names it instead (as reading it alone does).
    for side, found in ((left, left_found), (right, right_found)):
        BrokenReferences.among(
            {
                k: f"{k!r} has a broken reference in {side.describe()}"
                for k, s in found.items()
                if s.raw_value is None
            }
        )
    entries = []
    for key in sorted(left_found.keys() | right_found.keys()):
        a, b = left_found.get(key), right_found.get(key)
        if a is None:
            state = "only_right"
        elif b is None:
            state = "only_left"
        else:
            # The effective values, references resolved, compared in constant time; the caller
            # learns only same or different (as a fingerprint comparison would tell).
            state = "same" if a.raw_value == b.raw_value else "differs"
        entries.append(
            DiffEntry(
                key,
                state,
                _version(a),
                _version(b),
                None if a is None else a.inherited,
                None if b is None else b.inherited,
            )
        )
    return entries


def _version(secret: Secret | None) -> int | None:
    return None if secret is None else secret.version


def copy_secrets(
    installation: Installation,
    actor: Principal,
    source: Target,
    destination: Target,
    keys: Sequence[str] | None = None,
    *,
    allow_production_source: bool = False,
) -> ImportReport:
    """Copy the effective values of ``source`` (all, or ``keys``) into ``destination``'s own
    level, in one transaction. From a production stack into a non-production one only with
    ``allow_production_source``; the refusal and the copy are both audited."""
    from_stack = _stack_of(source, "source")
    to_stack = _stack_of(destination, "destination")
    for key in keys or ():
        validate_key(key)
    if from_stack.id == to_stack.id:
        raise InvalidInput("the source and the destination are the same stack")
    leaving_production = from_stack.environment == PRODUCTION and to_stack.environment != PRODUCTION
    if leaving_production and not allow_production_source:
        refused = Forbidden(
            f"stack {from_stack.name!r} is production and {to_stack.name!r} is "
            f"{to_stack.environment}: copying production secrets out of production "
            "must be asked for explicitly (allow_production_source, --allow-production-source)"
        )
        record_denied(
            installation,
            actor,
            Action.WRITE_STACK_SECRETS.value,
            refused.message,
            account=destination.account,
            stack=to_stack,
            detail={"copied_from": from_stack.uid},
        )
        raise refused
    # The stored text, references and escapes included: resolved values would turn a literal
    # $${X} into a reference and freeze ${KEY} into whatever it meant in the source stack.
    found = {
        s.key: s.raw_value
        for s in list_secrets(
            installation, actor, source, reveal=True, purpose="copy", resolve=False
        )
        if s.raw_value is not None
    }
    wanted = sorted(found) if keys is None else sorted(set(keys))
    missing = [k for k in wanted if k not in found]
    if missing:
        raise NotFound(
            f"not in stack {from_stack.name!r}: {', '.join(map(repr, missing))}; nothing copied"
        )
    values: dict[str, SecretValue] = {k: found[k] for k in wanted}
    return import_secrets(
        installation,
        actor,
        destination,
        values,
        raw=True,  # the stored text, as read above: references stay references
        provenance={
            "copied_from": from_stack.uid,
            "from_production": leaving_production,
        },
    )
