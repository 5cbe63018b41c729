"""Rotation failures: ``RotationFailed``, raised by the rotators and handled by core.rotation.

Also what every rotator says of an address the outbound policy refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RotationFailed", "refusal_text", "refused"]


class RotationFailed(Exception):
    """The new value could not be put in place; the message names why and holds no value.

    ``audit``: more for the audit event's detail than the user is told (e.g. a webhook's status).
    """

    def __init__(self, message: str, audit: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.audit: dict[str, Any] = dict(audit or {})


def refusal_text(host: str, port: int) -> str:
    return (
        f"{host}:{port} is not a host stacksafe may connect to (the operator's "
        "STACKSAFE_OUTBOUND_ALLOW decides: loopback, link-local and the server's own database "
        "are refused unless allowed)"
    )


def refused(host: str, port: int) -> RotationFailed:
    return RotationFailed(refusal_text(host, port))
