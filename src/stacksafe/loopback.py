"""Whether a host is this machine: where plain HTTP is allowed (the SDK's server address, the
server's own listening address, an issuer's keys in the tests), since nothing crosses a network."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); never a name that resolves to one."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
