"""The HTTP API under load: a stack's 200 revealed secrets, against a ceiling and a floor server.

Setup (untimed): a fresh SQLite installation in a temporary data dir, an owner with an API token,
one account with 150 secrets and one stack with 50 own secrets (200 effective), written with
``import_secrets`` as the local operator.

Three servers, each its own ``uvicorn`` process (one worker, log level warning, loopback, a free
port), all running for the whole benchmark and driven one at a time by
``wrk -t2 -c32 -d10s --latency`` in rotating order, round after round:

* **(R) stacksafe**: ``stacksafe serve`` answering
  ``GET /api/3/stacks/{uid}/secrets?reveal=true&per_page=1000`` with a bearer token: token check,
  rate limit, access check, the read, 200 decrypts, the response model and one hash-chained,
  durably committed audit event per request.
* **(a) ceiling**: a bare Starlette app returning the identical response bytes from memory (captured
  once from (R)): what uvicorn and Starlette cost with no work at all.
* **(b) floor**: a minimal Starlette handler doing the irreducible work per request: 200 AES-GCM
  decrypts of the same ciphertexts (envelopes and the two data keys read and unwrapped once at
  startup, ``AESGCM`` objects kept), the same JSON, and one audit row ``INSERT`` + ``COMMIT`` in a
  SQLite database in WAL mode with ``synchronous=FULL`` (a durable commit, as (R) makes). An
  async handler on one connection: the only writer, no thread pool.

Reported: requests/s, p50 and p99 (wrk's latency distribution), medians over rounds, and the ratios
R/(b) (target >= 0.8) and R/(a) (target >= 0.2) of requests/s (medians of per-round ratios). wrk
runs with ``--timeout 20s``: its default of 2 s would drop (R)'s slowest requests from the
histogram. For context, (R) and (b) also run with one connection (``wrk -t1 -c1``): the per-request
cost without contention. Checked before timing: (R) returns 200 items with the expected raw values,
(a) the same bytes, (b) the same JSON. Checked after each run: the audit log grew by the number of
requests wrk counted, plus at most the ones in flight when it stopped (wrk does not count those).

Run: ``.venv/bin/python bench/api_bench.py`` (about 80 s; needs ``wrk`` on PATH, e.g. the Debian
package). ``--rounds``, ``--duration`` and ``--serial`` (0: no one-connection runs) change the
schedule.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import secrets as token
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from results import emit  # bench/results.py: the BENCH-RESULT lines of `make bench`

from stacksafe.core.access import Principal
from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.installation import initialise, open_installation
from stacksafe.core.principals import bootstrap_owner, create_token
from stacksafe.core.secrets import import_secrets
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.model import SecretValue
from stacksafe.settings import Settings

ACCOUNT_SECRETS = 150
STACK_SECRETS = 50
EFFECTIVE = ACCOUNT_SECRETS + STACK_SECRETS
OWNER = "bench@example.com"
WRK_THREADS = 2
WRK_CONNECTIONS = 32
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
# wrk's default of 2 s drops (R)'s slowest requests from its histogram (a trial run timed out
# 17 of 290 at 2 s), so p99 would read low; nothing here should take 20 s.
WRK_TIMEOUT = 20
# Issue 7's targets: R at least 0.8 of the floor (b) and 0.2 of the ceiling (a), in req/s.
TARGET_FLOOR = 0.8
TARGET_CEILING = 0.2

CEILING_MODULE = '''
"""(a) The framework ceiling: the captured response bytes, from memory."""

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = Path(os.environ["API_BENCH_BODY"]).read_bytes()


async def secrets(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/api/3/stacks/{stack_uid}/secrets", secrets)])
'''

FLOOR_MODULE = '''
"""(b) The irreducible-work floor: 200 decrypts, the JSON, one durable audit row per request.

Startup (untimed) borrows stacksafe's own readers to load the envelopes and unwrap the two data
keys once, and prepares each item's key, value string and timestamps; the request path uses only
AESGCM, json and sqlite3. The handler is async: no thread-pool hop, one connection, one writer.
"""

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stacksafe.core.inheritance import overlaid
from stacksafe.crypto import Binding, Envelope, Scope, encode_value, keyring_from_file
from stacksafe.model import iso8601
from stacksafe.settings import Settings
from stacksafe.store import Store
from stacksafe.store import keys as key_queries
from stacksafe.store import secrets as queries

CONFIG = json.loads(Path(os.environ["API_BENCH_FLOOR"]).read_text())


def _load() -> tuple[list[tuple], str, dict[str, object]]:
    settings = Settings.load({}, data_dir=Path(CONFIG["data_dir"]))
    keyring = keyring_from_file(settings.master_key_file)
    store = Store.from_url(settings.database_url)
    account_id, stack_id = CONFIG["account_id"], CONFIG["stack_id"]
    with store.read() as conn:
        found = queries.effective_secrets(conn, account_id, stack_id)
        rows, overrides = overlaid(found, CONFIG["stack_environment"])
        stored_keys = key_queries.data_keys_of(conn, account_id, stack_id)
    store.close()
    scopes = {
        False: Scope(CONFIG["account_uid"], None),
        True: Scope(CONFIG["account_uid"], CONFIG["stack_uid"]),
    }
    aeads = {
        (level, k.version): AESGCM(
            keyring.unwrap(
                k.master_key_version,
                k.wrapped_key,
                scopes[level].data_key_aad(k.version, k.master_key_version),
            )
        )
        for level, found in stored_keys.items()
        for k in found
    }
    items = []
    versions = {}
    # The list's meta, the same for every request (as (R) renders a kept level's page once).
    meta: dict[str, object] = {}
    for row in rows:
        versions[row.key] = row.version
        meta[row.key] = {
            "version": row.version,
            "overrides": row.key in overrides,
            "environments": None if row.environments is None else row.environments.split(),
        }
        level = row.stack_id is not None
        envelope = Envelope.from_bytes(row.envelope)
        aad = Binding(scopes[level], row.key, row.version).aad(envelope.header)
        aead = aeads[(level, envelope.data_key_version)]
        items.append(
            (
                row.key,
                encode_value(row.envelope),
                not level,
                iso8601(row.created_at),
                iso8601(row.updated_at),
                aead.decrypt,
                envelope.nonce,
                envelope.ciphertext,
                aad,
            )
        )
    detail = json.dumps({"keys": versions, "purpose": "list"}, separators=(",", ":"))
    return items, detail, meta


ITEMS, DETAIL, META = _load()
COUNT = len(ITEMS)
PAGINATION = {
    "previous": None,
    "next": None,
    "current": 1,
    "per_page": 1000,
    "count": COUNT,
    "pages": 1,
}
AUDIT = sqlite3.connect(CONFIG["audit_db"], check_same_thread=False)
AUDIT.execute("PRAGMA journal_mode = WAL")
AUDIT.execute("PRAGMA synchronous = FULL")
AUDIT.execute(
    "CREATE TABLE IF NOT EXISTS audit ("
    "seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, "
    "stack_uid TEXT NOT NULL, detail TEXT NOT NULL)"
)
AUDIT.commit()


async def secrets(request: Request) -> Response:
    response = [
        {
            "key": key,
            "value": value,
            "raw_value": decrypt(nonce, ciphertext, aad).decode(),
            "inherited": inherited,
            "created_at_iso": created,
            "updated_at_iso": updated,
        }
        for key, value, inherited, created, updated, decrypt, nonce, ciphertext, aad in ITEMS
    ]
    body = json.dumps(
        {"response": response, "count": COUNT, "pagination": PAGINATION, "meta": META},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    AUDIT.execute(
        "INSERT INTO audit (at, actor, stack_uid, detail) VALUES (?, ?, ?, ?)",
        (datetime.now(UTC).isoformat(), "bench", CONFIG["stack_uid"], DETAIL),
    )
    AUDIT.commit()
    return Response(body, media_type="application/json")


app = Starlette(routes=[Route("/api/3/stacks/{stack_uid}/secrets", secrets)])
'''


@dataclass
class Installation:
    settings: Settings
    token: str
    stack_uid: str
    floor_config: dict[str, object]
    plaintexts: dict[str, str]


@dataclass
class Server:
    label: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    timeouts: int
    socket_errors: str


def _values(rng: random.Random, prefix: str, count: int) -> dict[str, SecretValue]:
    """Realistic secret values: tokens, passwords and URLs of 16 to ~180 bytes."""
    out = {}
    for i in range(count):
        kind = rng.choice(("token", "password", "url"))
        if kind == "token":
            text_value = token.token_urlsafe(rng.randint(16, 48))
        elif kind == "password":
            text_value = token.token_hex(rng.randint(8, 32))
        else:
            text_value = (
                f"postgresql://svc_{i}:{token.token_urlsafe(24)}@db-{i}.internal:5432/app_{i}"
            )
        out[f"{prefix}_{i:03d}"] = SecretValue(text_value)
    return out


def _install(data_dir: Path, environ: Mapping[str, str] | None = None) -> Installation:
    """The bench's stack, owner and token in ``data_dir`` (on SQLite unless ``environ`` names
    another ``STACKSAFE_DATABASE_URL``)."""
    settings = Settings.load(environ or {}, data_dir=data_dir)
    installation, _ = initialise(settings)
    try:
        local = Principal.local("bench")
        bootstrap_owner(installation, OWNER)
        created = create_token(installation, local, OWNER, scopes=["public", "admin"])
        account = create_account(installation, local, "bench-account")
        stack = create_stack(installation, local, "bench-account", "web", "production")
        rng = random.Random(20240515)
        account_values = _values(rng, "ACCOUNT_SECRET", ACCOUNT_SECRETS)
        stack_values = _values(rng, "STACK_SECRET", STACK_SECRETS)
        import_secrets(installation, local, Target(account), account_values)
        import_secrets(installation, local, Target(account, stack), stack_values)
    finally:
        installation.close()
    floor_config: dict[str, object] = {
        "data_dir": str(data_dir),
        "account_id": account.id,
        "account_uid": account.uid,
        "stack_id": stack.id,
        "stack_uid": stack.uid,
        "stack_environment": stack.environment,
    }
    plaintexts = {k: v.reveal() for k, v in (account_values | stack_values).items()}
    return Installation(settings, created.token, stack.uid, floor_config, plaintexts)


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _start(label: str, argv: list[str], env: dict[str, str], log: Path, probe: str) -> Server:
    port = _free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(label, port, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            _get(port, probe, {})
            return server
        except OSError:
            time.sleep(0.1)
    _stop(server)
    sys.exit(f"{label} did not start on port {port}; its log:\n{log.read_text()[-3000:]}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)  # uvicorn: graceful shutdown
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


@contextmanager
def _running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        _stop(server)


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def _parse_wrk(output: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
        return match

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    timeouts = re.search(r"Socket errors: .*timeout (\d+)", output)
    return WrkResult(
        requests=int(find(r"^\s*(\d+) requests in")[1]),
        rps=float(find(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_ms(find(r"^\s+50%\s+(\S+)")[1]),
        p99_ms=_ms(find(r"^\s+99%\s+(\S+)")[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        timeouts=int(timeouts[1]) if timeouts else 0,
        socket_errors=errors[1].strip() if errors else "none",
    )


def _wrk(
    url: str,
    duration: int,
    bearer: str,
    threads: int = WRK_THREADS,
    connections: int = WRK_CONNECTIONS,
) -> WrkResult:
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        f"{WRK_TIMEOUT}s",
        "-H",
        f"Authorization: Bearer {bearer}",
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=True)
    return _parse_wrk(done.stdout)


def _count(db: Path, query: str) -> int:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        value = conn.execute(query).fetchone()[0]
    return int(value or 0)


def _settled_count(db: Path, query: str) -> int:
    """The row count once in-flight requests have finished (two equal readings 0.3 s apart)."""
    last = _count(db, query)
    for _ in range(30):
        time.sleep(0.3)
        now = _count(db, query)
        if now == last:
            return now
        last = now
    return last


def _verify_real(inst: Installation, body: bytes) -> None:
    doc = json.loads(body)
    items = doc.get("response")
    if not isinstance(items, list) or len(items) != EFFECTIVE or doc.get("count") != EFFECTIVE:
        sys.exit(f"(R) returned {len(items or [])} items (count {doc.get('count')}), not 200")
    revealed = {item["key"]: item["raw_value"] for item in items}
    if any(v is None for v in revealed.values()):
        sys.exit("(R) returned items without raw_value: the reveal did not happen")
    if revealed != inst.plaintexts:
        sys.exit("(R) returned raw values that differ from the ones imported")
    if not all(item["value"].startswith("encrypted:AES256:") for item in items):
        sys.exit("(R) returned a value that is not in the encrypted form")


def _fs_type(path: Path) -> str:
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fs_type, *_ = line.split()
            if str(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fs_type
    except OSError:
        pass
    return kind


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSAFE_")}
    env.update(extra)
    return env


@dataclass
class Measured:
    """What one wrk run of one server gave, and how much its audit log grew meanwhile."""

    run: str
    server: str
    connections: int
    wrk: WrkResult
    audit_rows: int | None  # None: the server keeps no audit log


def _drive(
    run: str,
    server: Server,
    url: str,
    bearer: str,
    duration: int,
    audit: tuple[Path, str] | None,
    threads: int = WRK_THREADS,
    connections: int = WRK_CONNECTIONS,
) -> Measured:
    before = _settled_count(*audit) if audit else 0
    result = _wrk(url, duration, bearer, threads, connections)
    if result.non_2xx:
        sys.exit(f"{server.label}: {result.non_2xx} responses were not 2xx")
    grown = _settled_count(*audit) - before if audit else None
    return Measured(run, server.label, connections, result, grown)


def _report(
    args: argparse.Namespace,
    servers: list[Server],
    rounds: list[Measured],
    serial: list[Measured],
    facts: dict[str, str],
) -> None:
    real, ceiling, floor = (s.label for s in servers)
    by_server = {s.label: [m.wrk for m in rounds if m.server == s.label] for s in servers}

    def med(label: str, attr: str) -> float:
        return statistics.median(float(getattr(r, attr)) for r in by_server[label])

    def ratio(num: str, den: str) -> float:
        pairs = zip(by_server[num], by_server[den], strict=True)
        return statistics.median(a.rps / b.rps for a, b in pairs)

    names = {
        real: "(R) `stacksafe serve`: token, reveal 200, audit event",
        ceiling: "(a) ceiling: bare Starlette, the same bytes from memory",
        floor: "(b) floor: 200 decrypts + JSON + 1 durable audit INSERT",
    }
    wrk_args = f"-t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{args.duration}s --latency"
    print("# stacksafe API benchmark\n")
    print(
        f"`GET /api/3/stacks/{{uid}}/secrets?reveal=true&per_page=1000`: {EFFECTIVE} effective "
        f"secrets, {facts['bytes']} response bytes. `wrk {wrk_args} --timeout {WRK_TIMEOUT}s`, "
        f"{args.rounds} round(s) in rotating order, medians. {facts['machine']}.\n"
    )
    print("| server | req/s | p50 | p99 |")
    print("|---|---:|---:|---:|")
    for label in (real, ceiling, floor):
        print(
            f"| {names[label]} | {med(label, 'rps'):.0f} | {med(label, 'p50_ms'):.2f} ms "
            f"| {med(label, 'p99_ms'):.2f} ms |"
        )
    r_b, r_a = ratio(real, floor), ratio(real, ceiling)
    b_verdict = "PASS" if r_b >= TARGET_FLOOR else "FAIL"
    a_verdict = "PASS" if r_a >= TARGET_CEILING else "FAIL"
    print(
        f"| **ratio R / (b)**, req/s (target >= {TARGET_FLOOR}) | **{r_b:.2f}** {b_verdict} | | |"
    )
    print(
        f"| **ratio R / (a)**, req/s (target >= {TARGET_CEILING}) | **{r_a:.3f}** {a_verdict} | | |"
    )
    p50, p99 = med(real, "p50_ms"), med(real, "p99_ms")
    emit(
        "reveal 200 over HTTP, 32 connections: R / (b) floor",
        measured=f"{med(real, 'rps'):.0f} req/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms)",
        baseline=f"{med(floor, 'rps'):.0f} req/s",
        ratio=r_b,
        target=f">= {TARGET_FLOOR}",
        passed=r_b >= TARGET_FLOOR,
    )
    emit(
        "reveal 200 over HTTP, 32 connections: R / (a) ceiling",
        measured=f"{med(real, 'rps'):.0f} req/s",
        baseline=f"{med(ceiling, 'rps'):.0f} req/s",
        ratio=r_a,
        target=f">= {TARGET_CEILING}",
        passed=r_a >= TARGET_CEILING,
    )

    print(
        "\n| run | server | connections | requests | req/s | p50 | p99 | audit rows added "
        "| socket errors |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    suspicious = []
    for m in rounds + serial:
        run = m.run
        r = m.wrk
        added = "-" if m.audit_rows is None else str(m.audit_rows)
        print(
            f"| {run} | {m.server} | {m.connections} | {r.requests} | {r.rps:.0f} "
            f"| {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms | {added} | {r.socket_errors} |"
        )
        # wrk does not count the requests still in flight when it stops, nor timed-out ones;
        # the server finishes (and audits) them.
        slack = m.connections + r.timeouts
        if m.audit_rows is not None and not 0 <= m.audit_rows - r.requests <= slack:
            suspicious.append(f"{run} {m.server}: {r.requests} requests, {m.audit_rows} rows")
    print(
        "\nAudit rows added vs requests wrk counted (expected: 0 to connections + timeouts more, "
        "the requests in flight when wrk stops): "
        + ("OK" if not suspicious else "UNEXPECTED: " + "; ".join(suspicious))
    )
    print(f"{facts['chain']} {facts['identical']}")
    print(facts["time"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per server (default 2)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--serial", type=int, default=5, help="seconds of one-connection runs of R and (b); 0: none"
    )
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not on PATH (Debian/Ubuntu: apt-get install wrk)")
    wrk_version = subprocess.run(
        [wrk, "--version"], capture_output=True, text=True, check=False
    ).stdout.split(" Copyright")[0]
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="stacksafe-apibench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        inst = _install(work / "data")
        setup = time.perf_counter() - started
        database = inst.settings.sqlite_path
        assert database is not None
        floor_audit = work / "floor-audit.db"
        floor_config = work / "floor.json"
        floor_config.write_text(json.dumps({**inst.floor_config, "audit_db": str(floor_audit)}))
        (work / "api_bench_ceiling.py").write_text(textwrap.dedent(CEILING_MODULE))
        (work / "api_bench_floor.py").write_text(textwrap.dedent(FLOOR_MODULE))
        body_file = work / "body.json"
        path = f"/api/3/stacks/{inst.stack_uid}/secrets?reveal=true&per_page=1000"
        auth = {"Authorization": f"Bearer {inst.token}"}
        bin_dir = Path(sys.executable).parent
        uvicorn = [sys.executable, "-m", "uvicorn"]
        uvicorn_flags = [
            *("--host", HOST, "--workers", "1", "--log-level", "warning"),
            *("--no-access-log", "--no-server-header", "--app-dir", str(work)),
        ]
        serve = [
            *(str(bin_dir / "stacksafe"), "serve", "--host", HOST),
            *("--data-dir", str(inst.settings.data_dir)),
            *("--rate-limit", str(10**9)),  # the default 3000 per hour would throttle wrk
        ]

        real = stack.enter_context(
            _running(_start("(R) stacksafe", serve, _child_env(), work / "real.log", "/healthz"))
        )
        status, body = _get(real.port, path, auth)
        if status != 200:
            sys.exit(f"(R) answered {status}: {body[:500]!r}")
        _verify_real(inst, body)
        body_file.write_bytes(body)
        ceiling = stack.enter_context(
            _running(
                _start(
                    "(a) ceiling",
                    [*uvicorn, "api_bench_ceiling:app", *uvicorn_flags],
                    _child_env(API_BENCH_BODY=str(body_file)),
                    work / "ceiling.log",
                    path,
                )
            )
        )
        floor = stack.enter_context(
            _running(
                _start(
                    "(b) floor",
                    [*uvicorn, "api_bench_floor:app", *uvicorn_flags],
                    _child_env(API_BENCH_FLOOR=str(floor_config)),
                    work / "floor.log",
                    path,
                )
            )
        )
        status, ceiling_body = _get(ceiling.port, path, auth)
        if status != 200 or ceiling_body != body:
            sys.exit(f"(a) does not return (R)'s bytes (status {status})")
        status, floor_body = _get(floor.port, path, auth)
        if status != 200 or json.loads(floor_body) != json.loads(body):
            sys.exit(f"(b) does not return (R)'s JSON (status {status})")

        # Audit rows per server: (R) the hash-chained log, (b) its simple table, (a) none.
        audit: dict[str, tuple[Path, str]] = {
            real.label: (database, "SELECT max(seq) FROM audit_events"),
            floor.label: (floor_audit, "SELECT count(*) FROM audit"),
        }
        servers = [real, ceiling, floor]
        rounds = []
        for round_no in range(args.rounds):
            shift = round_no % len(servers)
            for server in servers[shift:] + servers[:shift]:
                rounds.append(
                    _drive(
                        f"round {round_no + 1}",
                        server,
                        server.url + path,
                        inst.token,
                        args.duration,
                        audit.get(server.label),
                    )
                )
        serial = [
            _drive("one connection", s, s.url + path, inst.token, args.serial, audit[s.label], 1, 1)
            for s in (real, floor)
            if args.serial > 0
        ]

        for server in servers:
            _stop(server)
        chain_started = time.perf_counter()
        installation = open_installation(inst.settings)
        try:
            chain = verify_chain(installation)
        finally:
            installation.close()
        facts = {
            "bytes": str(len(body)),
            "machine": (
                f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {wrk_version}, "
                f"temporary data dir on {_fs_type(work)}"
            ),
            "chain": (
                f"(R) audit chain after the run: {'intact' if chain.intact else 'BROKEN'}, "
                f"{chain.events} events (verified in {time.perf_counter() - chain_started:.1f} s)."
            ),
            "identical": (
                "(b) body byte-identical to (R)'s: "
                + ("yes." if floor_body == body else "no (the same JSON).")
            ),
        }
    facts["time"] = f"(setup {setup:.1f} s, total {time.perf_counter() - started:.1f} s)"
    _report(args, servers, rounds, serial, facts)


if __name__ == "__main__":
    main()
