"""Rotators connect on a user's behalf: only with what the secrets say, only where the operator
allows, and their failures tell the user nothing about what listens on a port.

A fake PostgreSQL server (tests/pgwire.py) records every password libpq hands it, while the
server's environment holds its own database credentials the way operators set them: PGPASSWORD,
PGPASSFILE, a ~/.pgpass in HOME, PGUSER.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest
from psycopg import pq
from sqlalchemy import update

from stacksafe.core.installation import Installation
from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.rotation import get_policy, rotate_secret, set_policy
from stacksafe.core.rotators import RotationFailed
from stacksafe.core.rotators.postgres import (
    _endpoint,
    _libpq,
    fixed_options,
    libpq_version_text,
)
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target
from stacksafe.errors import InvalidInput, NotFound
from stacksafe.model import SecretValue
from stacksafe.store.schema import rotation_policies
from tests.actors import LOCAL
from tests.core.test_outbound import outside_addresses
from tests.core.test_rotation import receiver, value_of
from tests.e2e.conftest import make_tls
from tests.pgwire import FakePostgres, fake_postgres
from tests.serving import serving

AMBIENT = {
    "PGPASSWORD": "server-db-password-from-PGPASSWORD",
    "PGPASSFILE": "server-db-password-from-PGPASSFILE",
    "HOME": "server-db-password-from-home-pgpass",
}
APP_URL = "postgresql://app_a:app-password@{host}:{port}/app"


@pytest.fixture
def ambient(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The server's own database credentials where libpq looks for them by default."""
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:*:{AMBIENT['PGPASSFILE']}\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pgpass").write_text(f"*:*:*:*:{AMBIENT['HOME']}\n")
    for path in (passfile, home / ".pgpass"):
        path.chmod(0o600)  # libpq ignores a password file others may read
    monkeypatch.setenv("PGPASSWORD", AMBIENT["PGPASSWORD"])
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PGUSER", "server_db_user")
    return AMBIENT


def allow(installation: Installation, *entries: str) -> None:
    installation.outbound = replace(
        installation.outbound, allow=tuple(ip_network(e) for e in entries)
    )


def give_policy(installation: Installation, target: Target, app_url: str, admin_url: str) -> None:
    set_secret(installation, LOCAL, target, "DATABASE_URL", SecretValue(app_url))
    set_secret(installation, LOCAL, target, "PG_ADMIN_URL", SecretValue(admin_url))
    set_policy(
        installation,
        LOCAL,
        target,
        "DATABASE_URL",
        rotator="postgres",
        config={"admin_key": "PG_ADMIN_URL", "roles": ["app_a", "app_b"]},
    )


def rotation_error(installation: Installation, target: Target) -> str:
    done = rotate_secret(installation, LOCAL, target, "DATABASE_URL")
    assert done.outcome == "failed"
    assert done.error is not None
    return done.error


def sent_nothing_ambient(fake: FakePostgres, ambient: dict[str, str]) -> None:
    for password in ambient.values():
        assert not fake.sent(password), password
    assert all(a.startup.get("user") != "server_db_user" for a in fake.attempts)


@pytest.mark.parametrize("method", ["cleartext", "md5"])
def test_the_rotator_sends_only_the_configured_password(
    installation: Installation, stack_target: Target, ambient: dict[str, str], method: str
) -> None:
    allow(installation, "127.0.0.1")
    with fake_postgres(method=method) as fake:
        address = {"host": fake.host, "port": fake.port}
        give_policy(
            installation,
            stack_target,
            APP_URL.format(**address),
            "postgresql://admin:admin-password@{host}:{port}/postgres".format(**address),
        )
        error = rotation_error(installation, stack_target)
    assert error == (
        f"authentication as 'admin' failed at the admin database at 127.0.0.1:{fake.port}"
    )
    assert [a.startup["user"] for a in fake.attempts] == ["admin"]
    assert fake.sent("admin-password")
    sent_nothing_ambient(fake, ambient)
    assert value_of(installation, stack_target, "DATABASE_URL") == APP_URL.format(**address)


@pytest.mark.parametrize(
    "admin_url",
    [
        "postgresql://admin@{host}:{port}/postgres",  # no password: PGPASSWORD, .pgpass
        "postgresql://{host}:{port}/postgres",  # no user either: PGUSER
        "host={host} port={port} user=admin dbname=postgres",
        "postgresql://admin:@{host}:{port}/postgres",  # an empty password is none
    ],
)
@pytest.mark.parametrize("variable", sorted(AMBIENT))
def test_a_connection_string_without_credentials_borrows_none_from_the_server(
    installation: Installation,
    stack_target: Target,
    ambient: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    admin_url: str,
    variable: str,
) -> None:
    # One source of the server's password at a time: each is refused on its own account.
    for other in set(AMBIENT) - {variable, "HOME"}:
        monkeypatch.delenv(other)
    allow(installation, "127.0.0.1")
    with fake_postgres() as fake:
        address = {"host": fake.host, "port": fake.port}
        give_policy(
            installation, stack_target, APP_URL.format(**address), admin_url.format(**address)
        )
        error = rotation_error(installation, stack_target)
    assert "the admin connection string must hold its own user and password" in error
    assert fake.attempts == []
    sent_nothing_ambient(fake, ambient)


@pytest.mark.parametrize(
    ("admin_url", "message"),
    [
        ("{base}?passfile=/etc/stacksafe/pgpass", "may not set 'passfile'"),
        ("{base}?sslcert=/etc/ssl/server.crt&sslkey=/etc/ssl/server.key", "may not set 'sslcert'"),
        ("{base}?service=stacksafe", "may not set 'service'"),
        ("{base}?hostaddr=10.1.2.3", "may not set 'hostaddr'"),
        ("{base}?require_auth=gss", "may not set 'require_auth'"),
        ("{base}?sslrootcert=/etc/ssl/private.pem", "sslrootcert may only be 'system'"),
        ("host=/var/run/postgresql user=admin password=pw", "must name a TCP host"),
        ("user=admin password=pw dbname=postgres", "must name a TCP host"),
        ("postgresql://admin:pw@{host},db2.example:{port}/postgres", "one host, not a list"),
    ],
)
def test_parameters_that_reach_for_the_servers_own_files_or_addresses_are_refused(
    installation: Installation, stack_target: Target, admin_url: str, message: str
) -> None:
    allow(installation, "127.0.0.1")
    with fake_postgres() as fake:
        address = {"host": fake.host, "port": fake.port}
        base = "postgresql://admin:pw@{host}:{port}/postgres".format(**address)
        give_policy(
            installation,
            stack_target,
            APP_URL.format(**address),
            admin_url.format(base=base, **address),
        )
        error = rotation_error(installation, stack_target)
    assert message in error
    assert "pw" not in error.replace("password", "")
    assert fake.attempts == []


def test_the_rotated_value_is_checked_before_a_rotation_is_claimed(
    installation: Installation, stack_target: Target
) -> None:
    allow(installation, "127.0.0.1")
    give_policy(
        installation,
        stack_target,
        "postgresql://app_a:pw@127.0.0.1:1/app?passfile=/etc/pgpass",
        "postgresql://admin:pw@127.0.0.1:1/postgres",
    )
    assert "the rotated connection string may not set 'passfile'" in rotation_error(
        installation, stack_target
    )
    assert get_policy(installation, LOCAL, stack_target, "DATABASE_URL").pending_version is None


def test_by_default_loopback_link_local_and_the_own_database_are_refused(
    installation: Installation, stack_target: Target
) -> None:
    with fake_postgres() as fake:
        address = {"host": fake.host, "port": fake.port}
        give_policy(
            installation,
            stack_target,
            APP_URL.format(**address),
            "postgresql://admin:pw@{host}:{port}/postgres".format(**address),
        )
        error = rotation_error(installation, stack_target)
        assert fake.attempts == []
    assert error.startswith(f"127.0.0.1:{fake.port} is not a host stacksafe may connect to")
    set_secret(
        installation,
        LOCAL,
        stack_target,
        "PG_ADMIN_URL",
        SecretValue("postgresql://admin:pw@169.254.169.254:5432/postgres"),
    )
    assert "169.254.169.254:5432 is not a host" in rotation_error(installation, stack_target)
    # The server's own database: refused even where a broader entry allows its network.
    installation.outbound = OutboundPolicy(
        (ip_network("10.0.0.0/8"),), database_hosts=("10.1.2.3",)
    )
    set_secret(
        installation,
        LOCAL,
        stack_target,
        "PG_ADMIN_URL",
        SecretValue("postgresql://admin:pw@10.1.2.3:5432/postgres"),
    )
    assert "10.1.2.3:5432 is not a host" in rotation_error(installation, stack_target)


HTTP_REFUSAL = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"


@contextmanager
def not_postgres(banner: bytes = HTTP_REFUSAL) -> Iterator[int]:
    """A port where something else answers (by default an HTTP server's refusal)."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(64)
            self.request.sendall(banner)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    with serving(server):
        yield server.server_address[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def test_a_failed_connection_says_nothing_of_what_listens_on_the_port(
    installation: Installation, stack_target: Target
) -> None:
    allow(installation, "127.0.0.1")
    app = APP_URL.format(host="127.0.0.1", port=1)
    errors = {}
    with not_postgres() as other_port:
        for name, port in (("closed", closed_port()), ("not postgres", other_port)):
            give_policy(
                installation, stack_target, app, f"postgresql://admin:pw@127.0.0.1:{port}/p"
            )
            errors[name] = rotation_error(installation, stack_target).replace(str(port), "PORT")
        unknown = "postgresql://admin:pw@nonexistent.invalid:5432/p"
        give_policy(installation, stack_target, app, unknown)
        errors["no such name"] = rotation_error(installation, stack_target)
    assert errors == {
        "closed": "could not connect to the admin database at 127.0.0.1:PORT",
        "not postgres": "could not connect to the admin database at 127.0.0.1:PORT",
        "no such name": "could not connect to the admin database at nonexistent.invalid:5432",
    }


def test_the_connection_goes_to_the_checked_address_under_the_hosts_name() -> None:
    endpoint = _endpoint(SecretValue("postgresql://u:p@db.example:6432/app?sslmode=require"), "x")
    text = _libpq(endpoint, ip_address("192.0.2.10"))
    assert "hostaddr=192.0.2.10" in text
    assert "host=db.example" in text
    assert "port=6432" in text
    # Nothing left for libpq to take from the environment, a home directory or a service file.
    for fixed in ("passfile=/dev/null/", "sslcertmode=disable", "require_auth="):
        assert fixed in text


def test_webhooks_obey_the_same_policy(installation: Installation, stack_target: Target) -> None:
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("original"))
    with receiver() as hook:
        port = hook.url.split(":")[2].split("/")[0]
        named = hook.url.replace("127.0.0.1", "localhost")
        set_policy(
            installation, LOCAL, stack_target, "API_KEY", rotator="webhook", config={"url": named}
        )
        refused = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
        assert refused.outcome == "failed"
        assert refused.error == (
            f"localhost:{port} is not a host stacksafe may connect to (the operator's "
            "STACKSAFE_OUTBOUND_ALLOW decides: loopback, link-local and the server's own "
            "database are refused unless allowed)"
        )
        assert hook.calls == []
        # Allowed by address and named by a host name: the call goes to the address checked,
        # and the receiver still sees the name it was given.
        allow(installation, "127.0.0.1")
        done = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
    assert done.outcome == "rotated", done.error
    ((_, headers, _),) = hook.calls
    assert headers["Host"] == f"localhost:{port}"
    assert value_of(installation, stack_target, "API_KEY") != "original"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "https://127.0.0.1:8443/x",
        "http://[::1]/",
    ],
)
def test_a_webhook_url_with_a_refused_address_is_refused_when_the_policy_is_written(
    installation: Installation, stack_target: Target, url: str
) -> None:
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("original"))
    with pytest.raises(InvalidInput, match="is not a host stacksafe may connect to"):
        set_policy(
            installation, LOCAL, stack_target, "API_KEY", rotator="webhook", config={"url": url}
        )
    with pytest.raises(NotFound, match="has no rotation policy"):
        get_policy(installation, LOCAL, stack_target, "API_KEY")


def test_webhooks_take_no_proxy_from_the_environment(
    installation: Installation, stack_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    allow(installation, "127.0.0.1")
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("original"))
    with receiver() as hook:
        set_policy(
            installation,
            LOCAL,
            stack_target,
            "API_KEY",
            rotator="webhook",
            config={"url": hook.url},
        )
        done = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
    assert done.outcome == "rotated", done.error
    assert len(hook.calls) == 1


def test_a_failed_webhook_call_says_nothing_of_what_listens_on_the_port(
    installation: Installation, stack_target: Target
) -> None:
    allow(installation, "127.0.0.1")
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("original"))
    errors = {}
    with not_postgres(b"SSH-2.0-OpenSSH_9.6\r\n") as ssh_port:
        for name, port in (("closed", closed_port()), ("not http", ssh_port)):
            hook = {"url": f"http://127.0.0.1:{port}/hook"}
            set_policy(installation, LOCAL, stack_target, "API_KEY", rotator="webhook", config=hook)
            done = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
            assert done.error is not None
            errors[name] = done.error.replace(str(port), "PORT")
    assert errors == {
        "closed": "the webhook http://127.0.0.1:PORT could not be called",
        "not http": "the webhook http://127.0.0.1:PORT could not be called",
    }


def test_an_https_webhook_called_at_the_checked_address_verifies_the_names_certificate(
    installation: Installation,
    stack_target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = make_tls(tmp_path)  # a CA, and a certificate for localhost and 127.0.0.1
    monkeypatch.setenv("SSL_CERT_FILE", str(files.ca))
    allow(installation, "127.0.0.1")
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("original"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    with receiver() as hook:
        hook.server.socket = context.wrap_socket(hook.server.socket, server_side=True)
        named = hook.url.replace("http://127.0.0.1", "https://localhost")
        set_policy(
            installation, LOCAL, stack_target, "API_KEY", rotator="webhook", config={"url": named}
        )
        done = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
    assert done.outcome == "rotated", done.error
    assert names == ["localhost"]  # SNI: the name, though the connection went to 127.0.0.1
    ((_, headers, _),) = hook.calls
    assert headers["Host"].startswith("localhost:")


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_a_stored_webhook_url_with_a_bad_port_fails_the_rotation_and_releases_it(
    installation: Installation, stack_target: Target, port: str
) -> None:
    # Written before ports were checked (set_policy now refuses it): stored as it was.
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("original"))
    set_policy(
        installation,
        LOCAL,
        stack_target,
        "API_KEY",
        rotator="webhook",
        config={"url": "http://example.invalid/"},
    )
    config = json.dumps(
        {"charset": "alnum", "length": 32, "url": f"http://example.invalid:{port}/"}
    )
    installation.store.transact(
        lambda conn: conn.execute(update(rotation_policies).values(config=config)), "test"
    )
    for _ in range(2):  # the first releases its claim: the second is not "skipped"
        done = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
        assert done.outcome == "failed"
        assert done.error == (
            "the webhook http://example.invalid could not be called: its port is not a number "
            "1-65535"
        ).replace("example.invalid", f"example.invalid:{port}")
    assert get_policy(installation, LOCAL, stack_target, "API_KEY").pending_version is None
    assert value_of(installation, stack_target, "API_KEY") == "original"


def test_a_server_that_asks_for_no_password_is_not_logged_in_to(
    installation: Installation, stack_target: Target
) -> None:
    # A PostgreSQL with trust authentication lets anyone in: a rotator must authenticate with
    # the password it was given, or not connect.
    allow(installation, "127.0.0.1")
    with fake_postgres(method="trust") as fake:
        address = {"host": fake.host, "port": fake.port}
        give_policy(
            installation,
            stack_target,
            APP_URL.format(**address),
            "postgresql://admin:admin-password@{host}:{port}/postgres".format(**address),
        )
        error = rotation_error(installation, stack_target)
    assert error == (
        f"authentication as 'admin' failed at the admin database at 127.0.0.1:{fake.port}"
    )
    assert [a.startup["user"] for a in fake.attempts] == ["admin"]
    assert get_policy(installation, LOCAL, stack_target, "DATABASE_URL").pending_version is None


def test_a_database_at_one_of_the_servers_own_addresses_is_refused_by_default(
    installation: Installation, stack_target: Target
) -> None:
    # A PostgreSQL the server reaches as localhost but that listens on 0.0.0.0 answers at the
    # machine's LAN or bridge address too: that address is the server's own, refused by default.
    for address in [a for a in outside_addresses() if a.version == 4]:
        installation.outbound = OutboundPolicy()
        with fake_postgres(host=str(address)) as fake:
            admin = f"postgresql://admin:admin-password@{address}:{fake.port}/postgres"
            give_policy(installation, stack_target, APP_URL.format(host=address, port=1), admin)
            refused = rotation_error(installation, stack_target)
            assert refused.startswith(f"{address}:{fake.port} is not a host"), refused
            assert fake.attempts == []
            allow(installation, str(address))
            error = rotation_error(installation, stack_target)
        assert error.startswith("authentication as 'admin' failed"), error
        assert fake.sent("admin-password")


@pytest.mark.parametrize(
    ("version", "shown"), [(150010, "15.10"), (140000, "14.0"), (90624, "9.6.24")]
)
def test_a_libpq_without_require_auth_and_sslcertmode_is_refused_by_name(
    version: int, shown: str
) -> None:
    with pytest.raises(RotationFailed) as refused:
        fixed_options(version)
    assert str(refused.value).startswith(
        "the postgres rotator needs libpq 16.0 or newer and this server's psycopg uses "
        f"libpq {shown}:"
    )


@pytest.mark.parametrize("version", [160000, 170004, 180000, 180006, 190001])
def test_every_supported_libpq_keeps_the_ambient_credentials_out(version: int) -> None:
    options = fixed_options(version)
    assert options["require_auth"] == "password,md5,scram-sha-256"
    assert options["sslcertmode"] == "disable"
    assert options["passfile"].startswith("/dev/null/")
    assert options["gssencmode"] == "disable"
    # The protocol version bounds only where libpq knows them (18): before it 3.0 is all there is.
    bounds = {k: v for k, v in options.items() if k.endswith("_protocol_version")}
    expected = {"min_protocol_version": "3.0", "max_protocol_version": "3.0"}
    assert bounds == (expected if version >= 180000 else {})


def test_the_installed_libpq_is_supported() -> None:
    # The dependency floor (pyproject.toml) is a psycopg[binary] that bundles libpq 18.
    assert fixed_options(pq.version()), libpq_version_text(pq.version())
