"""Broken references in stored data, made the way they arise: a write may not create a missing
target or a cycle (core.expansion refuses it), but deleting what a value references may."""

from __future__ import annotations

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import set_secret, unset_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from tests.actors import LOCAL


def put(installation: Installation, target: Target, key: str, value: str) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value))


def dangling(installation: Installation, stack: Target, key: str, target_key: str) -> None:
    """``key`` of ``stack`` holds ``${target_key}``, which no longer exists there."""
    put(installation, stack, target_key, "soon deleted")
    put(installation, stack, key, f"before ${{{target_key}}} after")
    unset_secret(installation, LOCAL, stack, target_key)


def cycle(
    installation: Installation, account: Target, stack: Target, first: str, second: str
) -> None:
    """``first`` and ``second`` reference each other in ``stack``: account values ``first`` =
    ``${second}`` and ``second`` = ``${first}``, written while ``stack`` overrode ``second``
    (an account value is checked only where it is delivered), then the override deleted."""
    put(installation, stack, second, "override")
    put(installation, account, first, f"secret-a ${{{second}}}")
    put(installation, account, second, f"secret-b ${{{first}}}")
    unset_secret(installation, LOCAL, stack, second)
