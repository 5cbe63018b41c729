"""Where the server may connect on a user's behalf (the postgres and webhook rotators).

Whoever may write a rotation policy chooses the host, so without a rule the server is a proxy
into its own network: its loopback services, a cloud metadata endpoint (link-local
169.254.169.254), its own database. The rule, checked on the *address* a name resolves to (the
connection then goes to that very address, so a name that resolves differently a moment later,
DNS rebinding, changes nothing):

- the guarded ranges (loopback, link-local, unspecified, multicast, cloud metadata), the
  addresses of the server's own database host and those of the server's own network
  interfaces (a service bound to 0.0.0.0 answers there too) are refused unless the
  operator's allowlist (``STACKSAFE_OUTBOUND_ALLOW``) has an entry *inside* them:
  ``127.0.0.1`` opens loopback, ``10.0.0.0/8`` does not open a database at 10.0.0.5 (only
  ``10.0.0.5`` does);
- any other address is allowed when there is no allowlist, and must be in it when there is.

Why a refusal happened goes to the server log; the user is told only that the host is not
allowed, so that refusals cannot be used to map what lies behind the server.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "GUARDED",
    "Address",
    "Network",
    "OutboundPolicy",
    "OutboundRefused",
    "Unresolvable",
    "own_addresses",
]

log = logging.getLogger(__name__)

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

GUARDED: dict[str, tuple[Network, ...]] = {
    "loopback": (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")),
    "link-local": (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10")),
    "unspecified": (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128")),
    "multicast": (ipaddress.ip_network("224.0.0.0/4"), ipaddress.ip_network("ff00::/8")),
    # Metadata services outside link-local (169.254.169.254, which most clouds use, is there):
    # AWS's IPv6 endpoint (Nitro instances) and Alibaba Cloud's.
    "cloud metadata": (
        ipaddress.ip_network("fd00:ec2::254/128"),
        ipaddress.ip_network("100.100.100.200/32"),
    ),
}


def _proc_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read().splitlines()
    except OSError:
        return []


def own_addresses() -> frozenset[Address]:
    """The addresses of this machine's network interfaces, read afresh (interfaces come and go).

    On Linux every local IPv4 address (secondary ones too) is a ``/32 host LOCAL`` entry of
    ``/proc/net/fib_trie`` and every IPv6 address a line of ``/proc/net/if_inet6``; elsewhere,
    and in addition, what the machine's own name resolves to. Standard library only.
    """
    found: set[Address] = set()
    last = ""
    for line in _proc_lines("/proc/net/fib_trie"):
        text = line.strip()
        if text.startswith(("|--", "+--")):
            last = text.split()[1]
        elif text == "/32 host LOCAL" and last:
            try:
                found.add(ipaddress.IPv4Address(last))
            except ValueError:
                continue
    for line in _proc_lines("/proc/net/if_inet6"):
        fields = line.split()
        if fields and len(fields[0]) == 32:
            try:
                found.add(ipaddress.IPv6Address(int(fields[0], 16)))
            except ValueError:
                continue
    try:
        named = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        named = []
    for _family, _type, _proto, _name, sockaddr in named:
        found.add(_plain(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])))
    return frozenset(found)


class OutboundRefused(Exception):
    """The host's address may not be connected to; ``reason`` is for the server log only."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host, self.reason = host, reason


class Unresolvable(Exception):
    """The host name has no address (for the log: the user sees a generic failure)."""


def _plain(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (::ffff:127.0.0.1) as the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _addresses(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to, in the resolver's order (a literal: itself)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{host!r} could not be resolved ({type(exc).__name__})") from None
    seen: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = _plain(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if address not in seen:
            seen.append(address)
    if not seen:
        raise Unresolvable(f"{host!r} has no address")
    return seen


@dataclass(frozen=True)
class OutboundPolicy:
    """The operator's allowlist (empty: no list) and the server's own database host(s)."""

    allow: tuple[Network, ...] = ()
    database_hosts: tuple[str, ...] = ()

    def _database_addresses(self) -> set[Address]:
        found: set[Address] = set()
        for host in self.database_hosts:
            try:
                found.update(_addresses(host, 5432))
            except Unresolvable:
                continue  # a database host that does not resolve is not reachable either
        return found

    def _opened(self, address: Address, within: tuple[Network, ...]) -> bool:
        """Whether an allowlist entry inside one of ``within`` covers ``address``."""
        return any(
            address in entry
            and any(
                entry.version == guarded.version and entry.subnet_of(guarded)  # type: ignore[arg-type]
                for guarded in within
            )
            for entry in self.allow
        )

    def refusal(
        self,
        address: Address,
        database: set[Address] | None = None,
        own: frozenset[Address] | None = None,
    ) -> str | None:
        """Why ``address`` may not be connected to, or None when it may."""
        address = _plain(address)
        single = (ipaddress.ip_network(address),)
        if address in (self._database_addresses() if database is None else database):
            if not self._opened(address, single):
                return "it is an address of the server's own database host"
            return None
        for kind, ranges in GUARDED.items():
            if any(address in network for network in ranges):
                return None if self._opened(address, ranges) else f"it is a {kind} address"
        if address in (own_addresses() if own is None else own):
            if not self._opened(address, single):
                return "it is an address of one of the server's own network interfaces"
            return None
        if self.allow and not any(address in entry for entry in self.allow):
            return "it is outside STACKSAFE_OUTBOUND_ALLOW"
        return None

    def resolve(self, host: str, port: int) -> Address:
        """The address to connect to for ``host``: the first it resolves to that is allowed.

        Raises ``Unresolvable``, or ``OutboundRefused`` when no address is allowed. Connect to
        the address returned, never to ``host`` again: it may resolve elsewhere by then.
        """
        database = self._database_addresses()
        own = own_addresses()
        reasons = []
        for address in _addresses(host, port):
            reason = self.refusal(address, database, own)
            if reason is None:
                return address
            reasons.append(f"{address}: {reason}")
        log.warning("an outbound connection to %s:%s was refused (%s)", host, port, reasons)
        raise OutboundRefused(host, "; ".join(reasons))
