"""References between secrets: ``${KEY}`` and ``${account.KEY}``, resolved when values are read.

``${KEY}`` is KEY in the effective set being read (for a stack: after its overrides, so a stack's
own value wins over the account's, in the stack being resolved); ``${account.KEY}`` is the
account's own KEY, if the stack's environment inherits it. ``$${`` stands for a literal ``${``.
Any other ``$`` is literal text. A chain of references may be 10 deep; a cycle or a reference to
a key that does not exist is an error that names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from stacksafe.errors import Conflict

__all__ = ["MAX_DEPTH", "Resolved", "has_references", "resolve_all"]

MAX_DEPTH = 10
ACCOUNT_PREFIX = "account."
# A reference, or the escape for a literal "${".
_TOKEN = re.compile(r"\$\$\{|\$\{((?:account\.)?[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*)\}")


def has_references(text: str) -> bool:
    """Whether ``text`` needs resolving at all (most values do not: a cheap test first)."""
    return "${" in text


@dataclass
class Resolved:
    """Resolved values by key, and which references each key used (for the audit event)."""

    values: dict[str, str] = field(repr=False)  # plaintext: never in a repr or a traceback
    used: dict[str, list[str]] = field(default_factory=dict)


def resolve_all(
    own: Mapping[str, str],
    account: Callable[[], Mapping[str, str]],
    where: str,
    only: Collection[str] | None = None,
) -> Resolved:
    """Resolve the values of ``own`` (the effective set being read): all, or the keys ``only``
    (and whatever they reference, nothing else).

    ``account`` gives the account's own values that this set may see; it is called only if a
    value being resolved names ``${account.KEY}``. ``where`` names the set in error messages.
    """
    resolved: dict[str, str] = {}
    used: dict[str, list[str]] = {}
    account_values: Mapping[str, str] | None = None

    def lookup(name: str) -> tuple[str, str]:
        nonlocal account_values
        if name.startswith(ACCOUNT_PREFIX):
            if account_values is None:
                account_values = account()
            key = name[len(ACCOUNT_PREFIX) :]
            if key not in account_values:
                raise Conflict(f"${{{name}}} does not exist: no account secret {key!r} here")
            return name, account_values[key]
        if name not in own:
            raise Conflict(f"${{{name}}} does not exist in {where}")
        return name, own[name]

    def expand(name: str, text: str, chain: list[str]) -> str:
        if not has_references(text):
            return text

        def substitute(match: re.Match[str]) -> str:
            target = match.group(1)
            if target is None:
                return "${"  # the escape
            if len(chain) > MAX_DEPTH:  # following this one would be reference MAX_DEPTH + 1
                raise Conflict(
                    f"references nest deeper than {MAX_DEPTH} in {where}: "
                    f"{' -> '.join([*chain, target])}"
                )
            if target in chain:
                cycle = [*chain[chain.index(target) :], target]
                raise Conflict(f"reference cycle in {where}: {' -> '.join(cycle)}")
            label, value = lookup(target)
            used.setdefault(chain[0], []).append(label)
            # An account value's own ${KEY} references mean the account's keys.
            inner = value
            if label.startswith(ACCOUNT_PREFIX):
                inner = _as_account_references(value)
            return expand(label, inner, [*chain, target])

        return _TOKEN.sub(substitute, text)

    for key in own if only is None else only:
        resolved[key] = expand(key, own[key], [key])
    return Resolved(resolved, {k: sorted(set(v)) for k, v in used.items()})


def _as_account_references(text: str) -> str:
    """Inside an account value, ``${KEY}`` names the account's KEY: make that explicit."""

    def qualify(match: re.Match[str]) -> str:
        target = match.group(1)
        if target is None or target.startswith(ACCOUNT_PREFIX):
            return match.group(0)
        return "${" + ACCOUNT_PREFIX + target + "}"

    return _TOKEN.sub(qualify, text)
