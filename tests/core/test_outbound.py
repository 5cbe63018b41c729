"""Where rotators may connect: the guarded ranges, the server's own database, the allowlist."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from stacksafe.core.outbound import (
    GUARDED,
    Address,
    OutboundPolicy,
    OutboundRefused,
    own_addresses,
)
from stacksafe.errors import ConfigurationError
from stacksafe.settings import Settings


def policy(allow: str = "", database: tuple[str, ...] = ()) -> OutboundPolicy:
    return OutboundPolicy(
        tuple(ip_network(e) for e in allow.split(",") if e), database_hosts=database
    )


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: reaches the IPv4 address
        ("169.254.169.254", "link-local"),  # cloud metadata endpoints
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
        ("224.0.0.1", "multicast"),
        ("fd00:ec2::254", "cloud metadata"),  # AWS, IPv6
        ("100.100.100.200", "cloud metadata"),  # Alibaba Cloud
    ],
)
def test_the_default_refuses_the_guarded_ranges(address: str, kind: str) -> None:
    assert policy().refusal(ip_address(address)) == f"it is a {kind} address"


def test_the_default_refuses_the_servers_own_database_host_and_allows_others() -> None:
    guarded = policy(database=("10.1.2.3",))
    assert guarded.refusal(ip_address("10.1.2.3")) == (
        "it is an address of the server's own database host"
    )
    assert guarded.refusal(ip_address("10.1.2.4")) is None
    assert guarded.refusal(ip_address("203.0.113.7")) is None


def test_a_broad_entry_does_not_open_the_cloud_metadata_addresses() -> None:
    broad = policy("fd00::/8,100.64.0.0/10")
    assert broad.refusal(ip_address("fd00:ec2::254")) == "it is a cloud metadata address"
    assert broad.refusal(ip_address("100.100.100.200")) == "it is a cloud metadata address"
    assert broad.refusal(ip_address("100.100.100.201")) is None
    assert policy("100.100.100.200").refusal(ip_address("100.100.100.200")) is None


def test_only_an_entry_inside_a_guarded_range_opens_it() -> None:
    broad = policy("10.0.0.0/8,0.0.0.0/0", database=("10.1.2.3",))
    assert broad.refusal(ip_address("10.9.9.9")) is None
    assert broad.refusal(ip_address("10.1.2.3")) is not None  # the database: by address only
    assert broad.refusal(ip_address("127.0.0.1")) == "it is a loopback address"
    assert broad.refusal(ip_address("169.254.169.254")) == "it is a link-local address"
    exact = policy("10.1.2.3,127.0.0.1", database=("10.1.2.3",))
    assert exact.refusal(ip_address("10.1.2.3")) is None
    assert exact.refusal(ip_address("127.0.0.1")) is None
    assert exact.refusal(ip_address("127.0.0.2")) == "it is a loopback address"


def test_with_an_allowlist_everything_outside_it_is_refused() -> None:
    listed = policy("192.0.2.0/24")
    assert listed.refusal(ip_address("192.0.2.10")) is None
    assert listed.refusal(ip_address("198.51.100.1")) == "it is outside STACKSAFE_OUTBOUND_ALLOW"


def test_a_name_is_checked_by_the_addresses_it_resolves_to() -> None:
    with pytest.raises(OutboundRefused):
        policy().resolve("localhost", 5432)
    assert policy("127.0.0.1").resolve("localhost", 5432) == ip_address("127.0.0.1")
    with pytest.raises(OutboundRefused):  # the database named differently is the same host
        policy(database=("localhost",)).resolve("127.0.0.1", 5432)


def test_settings_read_the_allowlist_and_the_database_hosts() -> None:
    loaded = Settings.load(
        {
            "STACKSAFE_OUTBOUND_ALLOW": "127.0.0.1, 10.0.0.0/8,fd00::/8",
            "STACKSAFE_DATABASE_URL": "postgresql+psycopg://u:p@db.internal:5432/s?host=db2",
            "STACKSAFE_DATA_DIR": "/tmp/unused",
        }
    )
    assert loaded.outbound_allow == (
        ip_network("127.0.0.1/32"),
        ip_network("10.0.0.0/8"),
        ip_network("fd00::/8"),
    )
    assert loaded.database_hosts == ("db.internal", "db2")
    from_env = Settings.load(
        {"STACKSAFE_DATABASE_URL": "postgresql:///s", "PGHOST": "10.1.2.3", "HOME": "/tmp"}
    )
    assert from_env.database_hosts == ("10.1.2.3",)
    assert Settings.load({"STACKSAFE_DATA_DIR": "/tmp/unused"}).database_hosts == ()


@pytest.mark.parametrize("entry", ["db.internal", "10.0.0.0/33", "*"])
def test_an_allowlist_entry_that_is_not_an_address_is_refused(entry: str) -> None:
    with pytest.raises(ConfigurationError, match=f"STACKSAFE_OUTBOUND_ALLOW entry '{entry}'"):
        Settings.load({"STACKSAFE_OUTBOUND_ALLOW": entry, "STACKSAFE_DATA_DIR": "/tmp/unused"})


def outside_addresses() -> list[Address]:
    """This machine's interface addresses that no guarded range covers (e.g. eth0's)."""
    return sorted(
        (a for a in own_addresses() if not any(a in n for r in GUARDED.values() for n in r)),
        key=str,
    )


def test_the_servers_own_interface_addresses_are_refused_unless_listed_exactly() -> None:
    found = own_addresses()
    assert ip_address("127.0.0.1") in found  # the enumeration sees the loopback interface
    for address in outside_addresses():  # whatever else this machine has: eth0, docker0...
        reason = "it is an address of one of the server's own network interfaces"
        assert policy().refusal(address) == reason, address
        broad = "0.0.0.0/0" if address.version == 4 else "::/0"
        assert policy(broad).refusal(address) == reason, address  # a broad entry: still refused
        assert policy(str(address)).refusal(address) is None, address
