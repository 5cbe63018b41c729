"""A SQLite database that cannot take writes: a full disk, a file made immutable under a running
server, a server started on a read-only filesystem.

Each case runs a real ``stacksafe serve`` over TLS on a real SQLite file and checks: writes and
reveals (a reveal must write its audit event first) get ``503 storage_unavailable`` naming the
problem, with ``Retry-After``, and change nothing; masked reads (the list, one key's metadata,
its versions) keep working; once the fault is gone, writes and reveals work again in the same
server; ``PRAGMA integrity_check``, every acknowledged value and ``audit verify`` are intact.

The faults are real: a small tmpfs filled to the last page (ENOSPC), ``chattr +i`` on an ext4
file (EPERM on every write through the open descriptors), a tmpfs remounted read-only (EROFS).
A tmpfs cannot be remounted read-only under a running server (it has files open for writing),
hence the immutable file for that case, and a restart on the read-only mount for the other.
The tests run as root (CI does): mounting needs CAP_SYS_ADMIN, and without it they fail with
a message saying so, never skip.
"""

from __future__ import annotations

import errno
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stacksafe.client import Client
from stacksafe.errors import StorageUnavailable
from tests.cli.helpers import Cli
from tests.e2e.conftest import (
    RemoteCli,
    ServerProcess,
    TlsFiles,
    init_and_seed,
    stack_uid,
    start_serve,
    trusting,
)

BEFORE = 5  # secrets written (and acknowledged) before the fault
# Where the immutable file's test makes its directory: a disk filesystem, since `make test` puts
# the tests' files (tmp_path) on a tmpfs, where an immutable file still takes writes through
# the descriptors opened before (the FHS's temporary files kept on disk).
DISK_TMP = Path("/var/tmp")
TMPFS_SIZE = "16m"
COMMAND_SECONDS = 30


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
        )
    except FileNotFoundError:
        pytest.fail(f"{argv[0]} not found: the storage fault tests need mount and chattr")


@contextmanager
def tmpfs(path: Path) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` for the test, unmounted afterwards."""
    path.mkdir(mode=0o700)
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.fail(
            f"cannot mount a tmpfs at {path} (the storage fault tests need root with "
            f"CAP_SYS_ADMIN, as on CI): {mounted.stderr.strip()}"
        )
    try:
        yield path
    finally:
        if _run("umount", str(path)).returncode != 0:
            _run("umount", "-l", str(path))  # still busy: detach it, never leave it behind


@dataclass
class Installation:
    """A seeded SQLite installation and (while ``serving``) its server."""

    cli: Cli
    tls: TlsFiles
    logs: Path
    token: str = ""
    web: str = ""
    server: ServerProcess | None = None

    @property
    def database(self) -> Path:
        return self.cli.data_dir / "stacksafe.db"

    @contextmanager
    def serving(self, *, measured: bool = True) -> Iterator[ServerProcess]:
        """A server on the installation (``measured``: traced by coverage; see start_serve)."""
        tls_args = ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        logs = self.logs / f"serve-{_next()}"
        self.server = start_serve(self.cli, tls_args, logs, measured=measured)
        try:
            self.server.wait_healthy(trusting(self.tls.ca))
            yield self.server
        finally:
            self.server.stop()

    def kill(self) -> None:
        """SIGKILL: no clean close, so SQLite's -wal and -shm files stay."""
        assert self.server is not None
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait(COMMAND_SECONDS)

    def http(self) -> httpx.Client:
        assert self.server is not None
        return httpx.Client(
            base_url=self.server.address,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=trusting(self.tls.ca),
            timeout=30,
        )

    def client(self) -> Client:
        assert self.server is not None
        return Client(self.server.address, self.token, ca_bundle=str(self.tls.ca), timeout=30)

    def audit_events(self) -> int:
        verified = self.cli.in_process().ok("audit", "verify").stdout
        match = re.match(r"Audit log intact: (\d+) events", verified)
        assert match is not None, verified
        return int(match.group(1))

    def integrity(self) -> str:
        with sqlite3.connect(self.database) as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


_numbers = iter(range(1, 1000))


def _next() -> int:
    return next(_numbers)


def _install(data_dir: Path, tls: TlsFiles, logs: Path) -> Installation:
    installation = Installation(Cli(data_dir), tls, logs)
    installation.token = init_and_seed(installation.cli)
    installation.web = stack_uid(installation.cli, "web")
    return installation


def _write_before(installation: Installation) -> None:
    with installation.client() as client:
        for n in range(BEFORE):
            client.set_secret(f"BEFORE_{n}", f"value {n}", stack=installation.web)
        assert len(client.reveal(stack=installation.web)) == BEFORE


def _secrets(installation: Installation) -> str:
    return f"/api/3/stacks/{installation.web}/secrets"


def _refused(answer: httpx.Response, problem: str) -> None:
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["error"] == "storage_unavailable"
    assert body["error_description"].startswith(problem), body
    assert answer.headers["Retry-After"] == "2"
    for value in ("value 0", "value 1", "never stored"):
        assert value not in answer.text


def _writes_and_reveals_are_refused(installation: Installation, problem: str) -> None:
    """Writes and reveals refused with ``problem``; the masked reads still answered."""
    url = _secrets(installation)
    with installation.http() as http:
        _refused(http.put(f"{url}/DURING", json={"raw_value": "never stored"}), problem)
        _refused(http.put(f"{url}/BEFORE_0", json={"raw_value": "never stored"}), problem)
        reveal = http.get(f"{url}?reveal=true")
        _refused(reveal, problem)
        # A reveal needs its audit event durable first; the event could not be written.
        assert "recording audit events was not done" in reveal.json()["error_description"]
        _refused(http.get(f"{url}/BEFORE_1?reveal=true"), problem)

        listed = http.get(url)
        assert listed.status_code == 200, listed.text
        assert sorted(s["key"] for s in listed.json()["response"]) == [
            f"BEFORE_{n}" for n in range(BEFORE)
        ]
        assert all(s["raw_value"] is None for s in listed.json()["response"])
        one = http.get(f"{url}/BEFORE_0")
        assert one.status_code == 200, one.text
        assert one.json()["response"]["raw_value"] is None
        versions = http.get(f"{url}/BEFORE_0/versions")
        assert versions.status_code == 200, versions.text
        assert versions.json()["count"] == 1
    with installation.client() as client, pytest.raises(StorageUnavailable, match=problem):
        client.set_secret("DURING", "never stored", stack=installation.web)
    assert installation.server is not None
    remote = RemoteCli(
        installation.logs / "remote",
        address=installation.server.address,
        token=installation.token,
        ca_bundle=str(installation.tls.ca),
    ).in_process()
    refused = remote.fails(
        StorageUnavailable.exit_code, "secrets", "list", "--stack", "web", "--reveal"
    )
    assert problem in refused.stderr


def _not_ready(installation: Installation, problem: str) -> None:
    """/readyz says the audit log cannot be written (a probe rolled back never meets the
    full disk: SQLite writes at commit)."""
    with installation.http() as http:
        answer = http.get("/readyz")
    assert answer.status_code == 503, answer.text
    assert answer.json()["status"] == "not ready"
    assert answer.json()["checks"]["audit"].startswith(problem), answer.json()


def _ready(installation: Installation) -> None:
    with installation.http() as http:
        answer = http.get("/readyz")
    assert answer.status_code == 200, answer.text


def _works_again(installation: Installation) -> None:
    """The same server writes and reveals again; what was refused was not made."""
    with installation.client() as client:
        client.set_secret("AFTER", "after value", stack=installation.web)
        revealed = {k: v.reveal() for k, v in client.reveal(stack=installation.web).items()}
    assert revealed == {
        **{f"BEFORE_{n}": f"value {n}" for n in range(BEFORE)},
        "AFTER": "after value",
    }


def _write_until_it_fails(path: Path, chunk: bytes) -> int | None:
    """Append ``chunk`` to ``path`` until the write fails; the failure's errno."""
    with open(path, "ab", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                return exc.errno


def _fill(directory: Path) -> Path:
    """A file that takes every free block of ``directory``'s filesystem."""
    filler = directory / "filler"
    for chunk in (b"\0" * 65536, b"\0"):  # then byte by byte: the last partial page too
        assert _write_until_it_fails(filler, chunk) == errno.ENOSPC
    return filler


def test_a_full_disk_refuses_writes_and_reveals_and_keeps_reads(
    tls: TlsFiles, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "data") as data:
        installation = _install(data, tls, tmp_path)
        with installation.serving():
            _write_before(installation)
            events_before = installation.audit_events()
            # An empty WAL: the next transaction needs new pages. (A WAL with room left from
            # earlier transactions takes a small write even on a full disk, and that write is
            # durable: no fault to see.)
            with sqlite3.connect(installation.database) as conn:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
            filler = _fill(data)
            _not_ready(installation, "not writable (the filesystem of the database has ")

            _writes_and_reveals_are_refused(installation, "database or disk is full")

            filler.unlink()
            _ready(installation)
            _works_again(installation)
        assert installation.integrity() == "ok"
        # Exactly what succeeded: one write and one reveal after the fault; nothing refused.
        assert installation.audit_events() == events_before + 2


def _immutable_stops_open_descriptors(directory: Path) -> None:
    """Fail unless ``chattr +i`` stops writes through a descriptor opened before, as on ext4
    (the machine's /var/tmp); tmpfs, for one, lets them through."""
    probe = directory / "immutable-probe"
    with open(probe, "wb", buffering=0) as out:
        made = _run("chattr", "+i", str(probe))
        if made.returncode != 0:
            pytest.fail(f"chattr +i failed (needs root on ext4, as CI): {made.stderr.strip()}")
        try:
            out.write(b"x")
            written = True
        except PermissionError:
            written = False
        finally:
            _run("chattr", "-i", str(probe))
    probe.unlink()
    if written:
        kind = _run("stat", "-f", "-c", "%T", str(directory)).stdout.strip()
        pytest.fail(
            f"on this filesystem ({kind}) an immutable file still takes writes through open "
            f"descriptors, so the fault would not happen: {directory} must be on a disk (ext4)"
        )


@pytest.fixture
def disk_path() -> Iterator[Path]:
    """A directory of the test's own on a disk filesystem (``DISK_TMP``), removed after it."""
    made = Path(tempfile.mkdtemp(prefix="stacksafe-disk-", dir=DISK_TMP))
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def test_a_database_file_made_immutable_under_a_running_server(
    tls: TlsFiles, tmp_path: Path, disk_path: Path
) -> None:
    # An immutable file refuses writes even through the descriptors the server opened before.
    _immutable_stops_open_descriptors(disk_path)
    installation = _install(disk_path / "data", tls, tmp_path)
    files = [installation.database, installation.database.with_name("stacksafe.db-wal")]
    with installation.serving():
        _write_before(installation)
        events_before = installation.audit_events()
        made = _run("chattr", "+i", *map(str, files))
        try:
            assert made.returncode == 0, made.stderr
            # SQLite cannot tell EPERM from a failing disk: both are SQLITE_IOERR_WRITE.
            _writes_and_reveals_are_refused(installation, "database disk I/O error")
        finally:
            undone = _run("chattr", "-i", *map(str, files))
        assert undone.returncode == 0, undone.stderr
        _works_again(installation)
    assert installation.integrity() == "ok"
    assert installation.audit_events() == events_before + 2


def test_a_server_started_on_a_read_only_filesystem(tls: TlsFiles, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data") as data:
        installation = _install(data, tls, tmp_path)
        # SIGKILLed below: a killed process saves no coverage data.
        with installation.serving(measured=False):
            _write_before(installation)
            events_before = installation.audit_events()
            # Killed, so the -wal and -shm files stay: SQLite reads a WAL database on a
            # read-only filesystem only when they exist (docs/operations.md).
            installation.kill()
        remounted = _run("mount", "-o", "remount,ro", str(data))
        assert remounted.returncode == 0, remounted.stderr
        try:
            with installation.serving():
                _writes_and_reveals_are_refused(installation, "database is read-only")
        finally:
            writable = _run("mount", "-o", "remount,rw", str(data))
        assert writable.returncode == 0, writable.stderr
        with installation.serving():
            _works_again(installation)
        assert installation.integrity() == "ok"
        assert installation.audit_events() == events_before + 2
