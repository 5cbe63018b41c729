"""The postgres rotator against real roles of the throwaway cluster: two roles alternate, and a
client that keeps reconnecting with the secret while rotations run never fails."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from ipaddress import ip_network

import psycopg
import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.rotation import get_policy, labelled_secret, rotate_secret, set_policy
from stacksafe.core.secrets import get_secret, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.postgres import Cluster

_names = itertools.count()


@dataclass
class Roles:
    a: str
    b: str
    url_a: str  # role a with its first password
    admin_url: str


@pytest.fixture
def roles(pg_cluster: Cluster, installation: Installation) -> Iterator[Roles]:
    n = next(_names)
    a, b, admin = f"app{n}_a", f"app{n}_b", f"rotator{n}"
    with pg_cluster.admin() as conn:
        if (
            conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'password_login'").fetchone()
            is None
        ):
            conn.execute("CREATE ROLE password_login NOLOGIN")
        conn.execute(f"CREATE ROLE {a} LOGIN PASSWORD 'first-password' IN ROLE password_login")
        conn.execute(f"CREATE ROLE {b} LOGIN IN ROLE password_login")  # no password yet
        # The rotator's admin connection holds its own password (none is taken from the
        # environment), so it is a password role too, not the trusted test superuser.
        conn.execute(
            f"CREATE ROLE {admin} LOGIN SUPERUSER PASSWORD 'admin-password' IN ROLE password_login"
        )
    # The cluster is on loopback (and is this installation's own database in the PostgreSQL runs):
    # allowed by address, as an operator would with STACKSAFE_OUTBOUND_ALLOW=127.0.0.1.
    installation.outbound = replace(
        installation.outbound, allow=(ip_network(f"{pg_cluster.host}/32"),)
    )
    base = f"{pg_cluster.host}:{pg_cluster.port}/postgres"
    yield Roles(
        a,
        b,
        f"postgresql://{a}:first-password@{base}",
        f"postgresql://{admin}:admin-password@{base}",
    )
    with pg_cluster.admin() as conn:
        for role in (a, b, admin):
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def connects_as(url: str) -> str:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SELECT current_user").fetchone()
        assert row is not None
        return str(row[0])


def current_url(installation: Installation, target: Target) -> str:
    found = get_secret(installation, LOCAL, target, "DATABASE_URL", reveal=True)
    assert found.raw_value is not None
    return found.raw_value.reveal()


def give_policy(installation: Installation, target: Target, roles: Roles) -> None:
    set_secret(installation, LOCAL, target, "DATABASE_URL", SecretValue(roles.url_a))
    set_secret(installation, LOCAL, target, "PG_ADMIN_URL", SecretValue(roles.admin_url))
    set_policy(
        installation,
        LOCAL,
        target,
        "DATABASE_URL",
        rotator="postgres",
        config={"admin_key": "PG_ADMIN_URL", "roles": [roles.a, roles.b]},
    )


def test_the_cluster_checks_passwords_of_these_roles(roles: Roles) -> None:
    assert connects_as(roles.url_a) == roles.a
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connects_as(roles.url_a.replace("first-password", "wrong"))


def test_rotations_alternate_roles_and_keep_the_previous_credential_for_one_period(
    installation: Installation, stack_target: Target, roles: Roles
) -> None:
    give_policy(installation, stack_target, roles)
    first = current_url(installation, stack_target)

    done = rotate_secret(installation, LOCAL, stack_target, "DATABASE_URL")
    assert (done.outcome, done.version) == ("rotated", 2)
    second = current_url(installation, stack_target)
    assert connects_as(second) == roles.b
    assert connects_as(first) == roles.a  # previous: still valid during the grace period
    previous = labelled_secret(
        installation, LOCAL, stack_target, "DATABASE_URL", "previous", reveal=True
    )
    assert previous.raw_value == SecretValue(first)

    assert rotate_secret(installation, LOCAL, stack_target, "DATABASE_URL").outcome == "rotated"
    third = current_url(installation, stack_target)
    assert connects_as(third) == roles.a
    assert connects_as(second) == roles.b  # now the previous one
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connects_as(first)  # two rotations old: role a has a new password
    assert len({first, second, third}) == 3


def test_a_failed_rotation_keeps_the_current_value_and_says_why(
    installation: Installation, stack_target: Target, roles: Roles, pg_cluster: Cluster
) -> None:
    give_policy(installation, stack_target, roles)
    with pg_cluster.admin() as conn:
        conn.execute(f"DROP ROLE {roles.b}")
    done = rotate_secret(installation, LOCAL, stack_target, "DATABASE_URL")
    assert done.outcome == "failed"
    assert done.error is not None
    assert f"setting the password of role {roles.b!r} failed" in done.error
    assert "does not exist" in done.error
    assert current_url(installation, stack_target) == roles.url_a
    assert connects_as(roles.url_a) == roles.a
    assert "first-password" not in done.error
    assert get_policy(installation, LOCAL, stack_target, "DATABASE_URL").failures == 1


def test_a_value_for_a_role_outside_the_pair_is_not_rotated(
    installation: Installation, stack_target: Target, roles: Roles
) -> None:
    give_policy(installation, stack_target, roles)
    set_secret(
        installation,
        LOCAL,
        stack_target,
        "DATABASE_URL",
        SecretValue(roles.url_a.replace(f"{roles.a}:first-password@", "other:pw@")),
    )
    done = rotate_secret(installation, LOCAL, stack_target, "DATABASE_URL")
    assert done.outcome == "failed"
    assert done.error is not None
    assert "connects as 'other', which is not one of the alternating roles" in done.error
    assert "pw" not in done.error.replace("password", "")


@dataclass
class ReconnectingClient:
    """Reads the secret, connects with it, runs a query, disconnects: again and again."""

    installation: Installation
    target: Target
    cycles: int = 0
    failures: list[str] = field(default_factory=list)
    users: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    progress: threading.Condition = field(default_factory=threading.Condition)

    def run(self) -> None:
        while not self.stop.is_set():
            url = current_url(self.installation, self.target)
            try:
                self.users.add(connects_as(url))
            except psycopg.Error as exc:
                self.failures.append(str(exc).splitlines()[0])
            with self.progress:
                self.cycles += 1
                self.progress.notify_all()

    def wait_for_cycles(self, count: int) -> None:
        """Until ``count`` more cycles have *started and ended* (no sleeping: a condition)."""
        with self.progress:
            goal = self.cycles + count
            assert self.progress.wait_for(lambda: self.cycles >= goal, timeout=60)


def test_a_reconnecting_client_never_fails_during_rotations(
    installation: Installation, stack_target: Target, roles: Roles
) -> None:
    give_policy(installation, stack_target, roles)
    client = ReconnectingClient(installation, stack_target)
    thread = threading.Thread(target=client.run)
    thread.start()
    try:
        client.wait_for_cycles(2)
        for _ in range(6):
            assert (
                rotate_secret(installation, LOCAL, stack_target, "DATABASE_URL").outcome
                == "rotated"
            )
            # The grace period, in the client's own terms: every cycle that could hold the
            # value from before this rotation ends before the next rotation starts (the one
            # that changes that role's password). In production the period is rotate_every.
            client.wait_for_cycles(2)
    finally:
        client.stop.set()
        thread.join(timeout=60)
    assert client.failures == []
    assert client.users == {roles.a, roles.b}
    assert client.cycles >= 14
