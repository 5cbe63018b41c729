"""What remote mode makes of the server's answers, whichever client read them (the SDK, or
`run`'s light reader): a stack name's uid, and a delivery's values apart from its broken keys.

Names given on the command line are sent as they are (the server resolves account names),
except stack names, which the API takes as uids: the stacks of that name are looked up first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = ["delivered", "printable_purpose", "stack_uid_among"]

# The longest purpose the server takes into a reveal's audit event.
MAX_PURPOSE = 200


def stack_uid_among(stack: str, matches: Sequence[tuple[str, str]]) -> str:
    """The uid of the one stack of ``matches`` ((uid, account name) of each stack named
    ``stack``); none: ``stack`` is taken as a uid; several: refused, naming their accounts."""
    if len(matches) > 1:
        owners = ", ".join(sorted(account for _, account in matches))
        raise InvalidInput(
            f"stack name {stack!r} exists in accounts {owners}; name the account too "
            "(--account) or use the stack uid"
        )
    return matches[0][0] if matches else stack


def printable_purpose(purpose: str) -> str:
    """``purpose`` as the server takes it: printable ASCII, at most ``MAX_PURPOSE``."""
    return "".join(c if " " <= c <= "~" else "?" for c in purpose)[:MAX_PURPOSE]


def delivered(
    found: Iterable[tuple[str, SecretValue | None]],
) -> tuple[dict[str, SecretValue], dict[str, str]]:
    """The values of a revealed list, and its broken keys with why. A revealed list gives a key
    without its value only when its references are broken (core.level_reads.resolved_values);
    reading it alone names the reference."""
    values: dict[str, SecretValue] = {}
    broken: dict[str, str] = {}
    for key, value in found:
        if value is None:
            broken[key] = f"{key!r} has a broken reference (`stacksafe secrets get {key}` names it)"
        else:
            values[key] = value
    return values, broken
