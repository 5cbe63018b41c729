"""End-to-end fixtures: real ``stacksafe serve`` processes over TLS on a free loopback port.

* ``tls``: a throwaway CA and a server certificate for 127.0.0.1 / localhost (``cryptography``).
* ``served``: a data dir initialised by the real CLI (the owner's first token taken from
  ``init``'s output), account ``acme`` with stacks ``web`` (production) and ``dev``
  (development), and ``stacksafe serve --tls-cert --tls-key --port <free>`` running on it.
  One server per test module and database (SQLite, and the throwaway PostgreSQL through
  ``STACKSAFE_DATABASE_URL``); tests sharing it use their own keys.
* ``launch``: start any ``stacksafe serve ...`` and have it stopped when the test ends;
  ``module_launch``: the same for servers a module's tests share, each on accounts of its own
  (``new_account``), stopped when the module ends.

Waits are bounded polls of ``/healthz`` (or of the process having exited), never fixed sleeps;
every server is terminated in a finalizer.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from stacksafe.cli.main import app
from stacksafe.client import Client
from stacksafe.errors import StacksafeError
from tests.cli.helpers import Cli, CliOutcome
from tests.pg_spares import Spares

# Seconds for a server to answer /healthz: a bound on a wait, loose enough for two workers
# starting on a machine at load 20 (30 s was not).
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05

# httpx 0.28 deprecates ``verify=<path>``, which stacksafe.Client passes its ca_bundle as (see
# test_sdk.py::test_client_with_ca_bundle_emits_no_deprecation_warning). Tests that build a
# Client with a CA bundle ignore exactly this warning; pyproject turns all others into errors.


# -- TLS -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate: what clients trust (STACKSAFE_CA_BUNDLE)
    cert: Path  # the server certificate, signed by the CA
    key: Path  # the server's private key


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_tls(directory: Path) -> TlsFiles:
    """A self-signed CA and a server certificate it signed for 127.0.0.1, ::1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    lifetime = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stacksafe e2e test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(lifetime[0])
        .not_valid_after(lifetime[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(lifetime[0])
        .not_valid_after(lifetime[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


def trusting(ca: Path) -> ssl.SSLContext:
    """An SSL context that trusts only ``ca`` (for raw httpx requests in tests)."""
    return ssl.create_default_context(cafile=str(ca))


# -- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


@dataclass
class ServerProcess:
    """A started ``stacksafe serve``; its stdout and stderr go to files (no pipe to fill)."""

    process: subprocess.Popen[bytes]
    address: str  # scheme://127.0.0.1:port
    port: int
    log_dir: Path

    def stderr(self) -> str:
        return (self.log_dir / "serve.stderr").read_text("utf-8", "replace")

    def wait_healthy(self, verify: ssl.SSLContext | bool, timeout: float = START_TIMEOUT) -> None:
        """Poll /healthz until it answers 200; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        last: str = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"stacksafe serve exited {self.process.returncode} before answering: "
                    f"{self.stderr()!r}"
                )
            try:
                answer = httpx.get(f"{self.address}/healthz", verify=verify, timeout=2.0)
                if answer.status_code == 200:
                    return
                last = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(POLL_INTERVAL)
        pytest.fail(f"stacksafe serve did not answer /healthz in {timeout} s ({last})")

    def wait_exit(self, timeout: float = START_TIMEOUT) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


Launcher = Callable[..., ServerProcess]


def start_serve(
    cli: Cli,
    args: Sequence[str],
    log_dir: Path,
    *,
    port: int | None = None,
    scheme: str = "https",
    env: Mapping[str, str] | None = None,
    measured: bool = True,
) -> ServerProcess:
    """Start ``stacksafe serve --port PORT ARGS`` with ``cli``'s environment (not waited for).

    ``measured=False``: coverage does not trace it. For a server the test SIGKILLs (a killed
    process saves no coverage data), or one that only carries a concurrent load through code
    the in-process tests measure, tracing costs a third of the test's time and adds nothing.
    """
    port = free_port() if port is None else port
    environ = cli.env(env, measured=measured)
    log_dir.mkdir(parents=True, exist_ok=True)
    with (
        open(log_dir / "serve.stdout", "wb") as out,
        open(log_dir / "serve.stderr", "wb") as err,
    ):
        process = subprocess.Popen(
            cli.argv("serve", "--port", str(port), *args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=environ,
        )
    return ServerProcess(process, f"{scheme}://127.0.0.1:{port}", port, log_dir)


def _launcher(logs: Path) -> Iterator[Launcher]:
    """A ``Launcher`` whose servers log under ``logs``; every one is stopped at the end."""
    started: list[ServerProcess] = []
    numbers = itertools.count(1)

    def _launch(cli: Cli, args: Sequence[str], **kwargs: Any) -> ServerProcess:
        server = start_serve(cli, args, logs / f"serve-{next(numbers)}", **kwargs)
        started.append(server)
        return server

    try:
        yield _launch
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launcher]:
    """Start servers for one test (``launch(cli, args, ...)``); all are stopped afterwards."""
    yield from _launcher(tmp_path)


@pytest.fixture(scope="module")
def module_launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """``launch`` for servers a module's tests share (each test on accounts of its own)."""
    yield from _launcher(tmp_path_factory.mktemp("serve"))


@dataclass(frozen=True)
class ServedPair:
    """Two TLS servers on one seeded installation, as behind a load balancer."""

    first: ServerProcess
    second: ServerProcess
    token: str  # the owner's first token
    web: str  # the uid of acme's stack ``web``
    local: Cli  # the CLI on the servers' data dir

    @property
    def servers(self) -> tuple[ServerProcess, ServerProcess]:
        return self.first, self.second


def serve_pair(
    local: Cli, tls: TlsFiles, launch: Launcher, *, measured: bool = True
) -> Iterator[ServedPair]:
    """``init_and_seed`` on ``local``, two servers on it, both answering; afterwards the audit
    chain both appended to is intact."""
    token = init_and_seed(local)
    tls_args = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    first = launch(local, tls_args, measured=measured)
    second = launch(local, tls_args, measured=measured)
    for server in (first, second):
        server.wait_healthy(trusting(tls.ca))
    yield ServedPair(first, second, token, stack_uid(local, "web"), local)
    assert local.in_process().ok("audit", "verify").stdout.startswith("Audit log intact: ")


@pytest.fixture(scope="module")
def pair_measured() -> bool:
    """Whether ``served_pair``'s servers are traced by coverage (see ``start_serve``); a
    module whose pair only carries a concurrent load overrides it with False."""
    return True


@pytest.fixture(scope="module")
def served_pair(
    module_database_url: str,
    tls: TlsFiles,
    module_launch: Launcher,
    pair_measured: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServedPair]:
    """A ``serve_pair`` the module's tests share, each test on an account of its own."""
    local = Cli(tmp_path_factory.mktemp("pair") / "data", module_database_url)
    yield from serve_pair(local, tls, module_launch, measured=pair_measured)


# -- an initialised, seeded, served installation -------------------------------------------

_FIRST_TOKEN = re.compile(r"first API token (tok_\w+)[^\n]*\n\s+(\S+)\s*\Z")


def init_and_seed(cli: Cli) -> str:
    """``stacksafe init`` plus acme / web (production) / dev (development); the owner's token."""
    # In-process (Typer's CliRunner), as the rest: a process would add only its start-up, and
    # the console script's init is tested itself (tests/cli/test_workflow.py).
    fast = cli.in_process()
    done = fast.ok("init")
    match = _FIRST_TOKEN.search(done.stdout)
    assert match is not None, f"no first token in init's output: {done.stdout!r}"
    fast.ok("accounts", "create", "acme")
    fast.ok("stacks", "create", "web", "--account", "acme", "--environment", "production")
    fast.ok("stacks", "create", "dev", "--account", "acme", "--environment", "development")
    return match.group(2)


def new_account(cli: Cli, account: str, environment: str = "production") -> str:
    """Account ``account`` with one stack ``web`` in ``environment``; the stack's uid. For a
    test on a server its module shares: what it writes, reads and deletes is its own."""
    fast = cli.in_process()
    fast.ok("accounts", "create", account)
    fast.ok("stacks", "create", "web", "--account", account, "--environment", environment)
    return only_stack(cli, account)


def only_stack(cli: Cli, account: str) -> str:
    """The uid of ``account``'s one stack."""
    stacks = cli.in_process().json("stacks", "list", "--account", account, "--format", "json")
    assert len(stacks) == 1, stacks
    uid: str = stacks[0]["uid"]
    return uid


def stack_uid(cli: Cli, name: str) -> str:
    """The uid of the stack ``name`` (``init_and_seed`` makes ``web`` and ``dev``)."""
    uid: str = next(
        s["uid"]
        for s in cli.in_process().json("stacks", "list", "--format", "json")
        if s["name"] == name
    )
    return uid


@dataclass
class Served:
    """A running TLS server on a seeded data dir, and how to reach it."""

    address: str
    token: str  # the owner's first token (scopes public and admin)
    ca: Path
    data_dir: Path
    database_url: str
    local: Cli  # the CLI on the server's own data dir (master key at hand)
    process: ServerProcess
    stack_uids: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None, *, ca: bool = True) -> Client:
        return Client(
            self.address, token or self.token, ca_bundle=str(self.ca) if ca else None, timeout=10
        )

    def remote(self, token: str | None, workdir: Path) -> RemoteCli:
        """The CLI in remote mode on an EMPTY data dir: only HTTP can reach the data."""
        return RemoteCli(
            workdir, address=self.address, token=token or self.token, ca_bundle=str(self.ca)
        )


@dataclass(frozen=True)
class RemoteCli(Cli):
    """``Cli`` with STACKSAFE_ADDR / STACKSAFE_TOKEN / STACKSAFE_CA_BUNDLE set."""

    address: str = ""
    token: str = ""
    ca_bundle: str = ""

    def env(
        self, overrides: Mapping[str, str] | None = None, *, measured: bool = True
    ) -> dict[str, str]:
        remote = {
            "STACKSAFE_ADDR": self.address,
            "STACKSAFE_TOKEN": self.token,
            "STACKSAFE_CA_BUNDLE": self.ca_bundle,
        }
        return super().env({**remote, **(overrides or {})}, measured=measured)

    def in_process(self) -> InProcessRemote:  # type: ignore[override]
        return InProcessRemote(self.data_dir, self.address, self.token, self.ca_bundle)


@dataclass(frozen=True)
class InProcessRemote:
    """The remote-mode CLI through Typer's CliRunner in this process, with main()'s exit codes.

    Same commands, same server, about 20x faster than the console script; the tests keep the
    real console script for the calls where the process boundary matters (stdin, exit codes,
    ``run``).
    """

    data_dir: Path
    address: str
    token: str
    ca_bundle: str

    def invoke(
        self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None
    ) -> CliOutcome:
        if args and args[0] == "run":
            raise ValueError("`run` replaces the process (execvpe): use the subprocess CLI")
        environ: dict[str, str | None] = {k: None for k in os.environ if k.startswith("STACKSAFE_")}
        environ |= {
            "STACKSAFE_DATA_DIR": str(self.data_dir),
            "STACKSAFE_ADDR": self.address,
            "STACKSAFE_TOKEN": self.token,
            "STACKSAFE_CA_BUNDLE": self.ca_bundle,
            **(env or {}),
        }
        result = CliRunner().invoke(app, list(args), input=input, env=environ)
        if isinstance(result.exception, StacksafeError):  # what main() does with it
            return CliOutcome(
                result.exception.exit_code,
                result.stdout,
                result.stderr + f"Error: {result.exception.message}\n",
            )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliOutcome(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str, **kwargs: Any) -> CliOutcome:
        outcome = self.invoke(*args, **kwargs)
        assert outcome.exit_code == 0, f"stacksafe {' '.join(args)}: {outcome.stderr!r}"
        return outcome

    def fails(self, code: int, *args: str, **kwargs: Any) -> CliOutcome:
        outcome = self.invoke(*args, **kwargs)
        assert outcome.exit_code == code, (
            f"stacksafe {' '.join(args)} exited {outcome.exit_code}, not {code}: {outcome.stderr!r}"
        )
        assert outcome.stdout == ""
        return outcome

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, **kwargs).stdout)


@contextmanager
def e2e_database(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of ``kind`` (``sqlite`` or ``postgresql``) for servers a module shares: a
    SQLite file, or a new database in the worker's throwaway cluster, dropped afterwards.

    It starts as a copy of the migrated template: whoever serves it runs ``init`` first, which
    finds the schema current (tests/conftest.py, ``from_migrated_template``)."""
    if kind == "sqlite":
        path = tmp_path_factory.mktemp("db") / "stacksafe.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        path.chmod(0o600)  # the mode init gives a database file it creates
        yield f"sqlite:///{path}"
        return
    spares: Spares = request.getfixturevalue("pg_spares")
    with spares.database(request.getfixturevalue("pg_template")) as url:
        yield url


@pytest.fixture(scope="module")
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The module-scoped twin of tests/conftest.py's ``database_url`` (same ids, same cluster).

    ``database_url`` is function-scoped; one server per module and database keeps the suite
    fast (each server costs an init, three CLI calls and a start).
    """
    with e2e_database(request.param, request, tmp_path_factory) as url:
        yield url


def serve_seeded(
    base: Path,
    database_url: str,
    tls: TlsFiles,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Served]:
    local = Cli(base / "data", database_url)
    token = init_and_seed(local)
    stacks = local.in_process().json("stacks", "list", "--account", "acme", "--format", "json")
    process = start_serve(
        local,
        ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), *extra],
        base / "serve",
        env=env,
    )
    try:
        process.wait_healthy(trusting(tls.ca))
        yield Served(
            address=process.address,
            token=token,
            ca=tls.ca,
            data_dir=local.data_dir,
            database_url=database_url,
            local=local,
            process=process,
            stack_uids={s["name"]: s["uid"] for s in stacks},
        )
    finally:
        process.stop()


@pytest.fixture(scope="module")
def served(
    module_database_url: str, tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A seeded installation served over TLS, shared by one module's tests on one database."""
    yield from serve_seeded(tmp_path_factory.mktemp("served"), module_database_url, tls)


@pytest.fixture
def served_fresh(database_url: str, tls: TlsFiles, tmp_path: Path) -> Iterator[Served]:
    """Like ``served`` but for one test, on tests/conftest.py's ``database_url``."""
    yield from serve_seeded(tmp_path, database_url, tls)
