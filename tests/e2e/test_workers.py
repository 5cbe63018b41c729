"""`stacksafe serve --workers 2`: two processes behind one port, each with its own kept values.

The kernel spreads connections over the workers, so a client cannot choose one. What must hold
whichever answers: compare-and-set increments from many clients lose nothing, and a read made
after a write was acknowledged never shows an older value, whichever worker wrote and whichever
reads (each checks the level's revision in the database before using what it kept).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stacksafe.client import Client
from stacksafe.errors import Conflict, PreconditionFailed
from tests.cli.helpers import Cli
from tests.e2e.conftest import Launcher, ServerProcess, TlsFiles, init_and_seed, stack_uid, trusting

CLIENTS = 6
INCREMENTS = 15  # per client


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def _workers(server: ServerProcess) -> list[int]:
    """The worker processes: the children that run the app (not multiprocessing's helpers)."""
    found = []
    for child in _children(server.process.pid):
        command = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"resource_tracker" not in command:
            found.append(child)
    return found


def test_two_workers_lose_no_update_and_never_serve_an_older_value(
    database_url: str, tls: TlsFiles, launch: Launcher, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "data", database_url)
    token = init_and_seed(cli)
    web = stack_uid(cli, "web")
    tls_args = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    server = launch(cli, ["--workers", "2", *tls_args], measured=False)  # a load: see start_serve
    server.wait_healthy(trusting(tls.ca))
    workers = _workers(server)
    assert len(workers) == 2, f"expected two worker processes, found {workers}"
    before = {pid: _cpu_ticks(pid) for pid in workers}

    def client() -> Client:
        return Client(server.address, token, ca_bundle=str(tls.ca), timeout=30)

    with client() as first:
        first.set_secret("COUNTER", "0", stack=web)

    def increment(_: int) -> int:
        done = attempts = 0
        while done < INCREMENTS:
            attempts += 1
            # Six clients lose some rounds to each other; never this many unless writes fail.
            assert attempts <= INCREMENTS * CLIENTS * 4, f"{done} increments in {attempts} tries"
            # A connection per round: the kernel hands each to either worker.
            with client() as mine:
                current = mine.get_secret("COUNTER", stack=web, reveal=True)
                assert current.raw_value is not None
                value = int(current.raw_value.reveal())
                try:
                    mine.set_secret(
                        "COUNTER", str(value + 1), stack=web, if_version=current.version
                    )
                except (Conflict, PreconditionFailed):
                    continue
            done += 1
            # Acknowledged: no read from now on, on any worker, may show less.
            with client() as reader:
                seen = reader.reveal(stack=web)["COUNTER"].reveal()
            assert int(seen) >= value + 1, f"read {seen} after writing {value + 1}"
        return done

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(increment, range(CLIENTS)))
    with client() as last:
        final = last.get_secret("COUNTER", stack=web, reveal=True)
    assert final.raw_value is not None
    assert int(final.raw_value.reveal()) == CLIENTS * INCREMENTS
    assert final.version == CLIENTS * INCREMENTS + 1
    # Both workers served: each used a real share of the CPU the load cost. A worker that got no
    # connection would show only what was left of its start-up (a few per cent at most).
    used = {pid: _cpu_ticks(pid) - before[pid] for pid in workers}
    total = sum(used.values())
    assert all(ticks >= 0.15 * total for ticks in used.values()), f"CPU ticks by worker: {used}"
    server.stop()
    assert cli.in_process().ok("audit", "verify").stdout.startswith("Audit log intact: ")
