"""Backup and restore: every table from one snapshot, as a logical dump, compressed and sealed.

The dump is database-independent JSON lines: a header (format, schema revision, stacksafe
version, rows per table), then per table a line naming it and its columns followed by one line
per row. It is compressed (zlib) and sealed in chunks under a fresh file key wrapped by the
master key (``crypto.stream``): values are ciphertext already, and the sealing hides key names,
emails and audit records too. A restore goes only into an empty database, needs the master key
the backup was made with, reads the whole file once to authenticate it before it touches the
database, and then inserts everything in one transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import stacksafe
from stacksafe.core.access import Principal
from stacksafe.core.audit import append, record
from stacksafe.core.audit_checkpoint import set_aside
from stacksafe.core.installation import (
    Installation,
    check_store_reachable,
    load_keyring,
    open_installation,
    store_for,
    utc_now,
)
from stacksafe.crypto import Keyring
from stacksafe.crypto.stream import CHUNK_SIZE, SealedWriter, open_sealed
from stacksafe.errors import ConfigurationError, Conflict, IntegrityError
from stacksafe.settings import Settings
from stacksafe.store import Connection, Store, Table, redact_url
from stacksafe.store import backup as dump
from stacksafe.store.keys import master_key_check_values
from stacksafe.store.migrate import HEAD_REVISION, current_revision, upgrade

__all__ = ["FORMAT", "BackupReport", "RestoreReport", "backup", "restore"]

FORMAT = "stacksafe-backup-1"
_INSERT_BATCH = 1000


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What a backup holds: rows per table, in foreign-key order, and the file's size."""

    tables: dict[str, int]
    bytes: int


@dataclass(frozen=True, slots=True)
class RestoreReport:
    tables: dict[str, int]
    made_at: str
    stacksafe_version: str


def _refuse_existing(path: Path) -> Conflict:
    return Conflict(f"{path} already exists; refusing to overwrite it (choose a new file name)")


def backup(
    installation: Installation, actor: Principal, path: Path, *, chunk_size: int = CHUNK_SIZE
) -> BackupReport:
    """Write every table, from one snapshot, sealed, to a new file ``path`` (mode 0600)."""
    if path.exists():
        raise _refuse_existing(path)
    if not path.parent.is_dir():
        raise ConfigurationError(f"directory {path.parent} does not exist")
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            counts, size = _write_dump(installation, out, chunk_size)
            out.flush()
            os.fsync(out.fileno())
        _publish(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    append(
        installation, actor, "backup.create", detail={"rows": sum(counts.values()), "bytes": size}
    )
    return BackupReport(counts, size)


def _write_dump(
    installation: Installation, out: BinaryIO, chunk_size: int
) -> tuple[dict[str, int], int]:
    writer = SealedWriter(out, installation.data_keys.keyring, chunk_size)
    compressor = zlib.compressobj(6)

    def put(item: object) -> None:
        line = json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        writer.write(compressor.compress(line))

    with installation.store.read() as conn:
        counts = {table.name: dump.count_rows(conn, table) for table in dump.TABLES}
        put(
            {
                "format": FORMAT,
                "schema_revision": current_revision(conn),
                "stacksafe_version": stacksafe.__version__,
                "made_at": utc_now().isoformat(),
                "tables": counts,
            }
        )
        for table in dump.TABLES:
            put({"table": table.name, "columns": dump.column_names(table)})
            written = 0
            for row in dump.iter_rows(conn, table):
                put(row)
                written += 1
            if written != counts[table.name]:  # pragma: no cover - one snapshot throughout
                raise IntegrityError(f"table {table.name} changed during the backup")
    writer.write(compressor.flush())
    writer.finish()
    return counts, writer.bytes_written


def _publish(partial: Path, path: Path) -> None:
    """Give the finished file its name without ever replacing an existing one."""
    try:
        os.link(partial, path)
    except FileExistsError:
        raise _refuse_existing(path) from None
    except OSError:  # pragma: no cover - a file system without hard links
        if path.exists():
            raise _refuse_existing(path) from None
        os.rename(partial, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _records(source: BinaryIO, keyring: Keyring) -> Iterator[Any]:
    """The JSON lines of a backup file, authenticated chunk by chunk."""
    inflate = zlib.decompressobj()
    pending = b""
    try:
        for chunk in open_sealed(source, keyring):
            pending += inflate.decompress(chunk)
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield json.loads(line)
        pending += inflate.flush()
    except (zlib.error, ValueError) as exc:
        raise IntegrityError(f"the backup file's contents are damaged: {exc}") from None
    if pending or not inflate.eof or inflate.unused_data:
        raise IntegrityError("the backup file's contents are damaged (incomplete data)")


def _read(
    source: BinaryIO, keyring: Keyring, on_row: Callable[[Table, dict[str, Any]], None]
) -> dict[str, Any]:
    """Walk a backup file, checking its shape; ``on_row`` gets each decoded row. The header."""
    records = _records(source, keyring)
    header = next(records, None)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise IntegrityError("this is not a stacksafe backup of a known format")
    revision = header.get("schema_revision")
    if revision != HEAD_REVISION:
        raise ConfigurationError(
            f"the backup is of schema revision {revision} (stacksafe "
            f"{header.get('stacksafe_version')}); this stacksafe ({stacksafe.__version__}) is at "
            f"revision {HEAD_REVISION}: restore it with the version that made it, then upgrade"
        )
    expected = header.get("tables")
    tables = iter(dump.TABLES)
    table: Table | None = None
    decode: Callable[[Any], dict[str, Any]] | None = None
    seen: dict[str, int] = {}
    try:
        for item in records:
            if isinstance(item, dict):
                table = next(tables)
                if item.get("table") != table.name:
                    raise ValueError(f"expected table {table.name}, found {item.get('table')}")
                decode = dump.decoder(table, item["columns"])
                seen[table.name] = 0
            elif table is not None and decode is not None and isinstance(item, list):
                on_row(table, decode(item))
                seen[table.name] += 1
            else:
                raise ValueError("a row outside any table")
    except (StopIteration, ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the backup file's contents are damaged: {exc}") from None
    if seen != expected or list(seen) != [t.name for t in dump.TABLES]:
        raise IntegrityError("the backup file's row counts differ from its header")
    return header


def restore(settings: Settings, actor: Principal, path: Path) -> RestoreReport:
    """Load backup ``path`` into the empty database of ``settings``, in one transaction."""
    keyring = load_keyring(settings)
    backed_up_keys: dict[int, bytes] = {}

    def keep_master_keys(table: Table, row: dict[str, Any]) -> None:
        if table.name == "master_keys":
            backed_up_keys[row["version"]] = row["check_value"]

    # First pass: authenticate the whole file before anything is created or written.
    with _opened_file(path) as source:
        header = _read(source, keyring, keep_master_keys)
    keyring.verify(backed_up_keys)
    store, created = _target(settings)
    try:
        revision = check_store_reachable(store, settings)
        if revision is None:
            upgrade(store)
        elif revision != HEAD_REVISION:
            raise ConfigurationError(
                f"the database is at schema revision {revision}, not {HEAD_REVISION}: "
                "restore into a new database"
            )
        with store.write() as conn:
            _check_empty(conn, keyring, settings)
            with _opened_file(path) as source:
                _load(conn, source, keyring, header)
    except BaseException:
        store.close()
        for file in created:
            with contextlib.suppress(OSError):
                os.unlink(file)
        raise
    store.close()
    # The restored log is older than any checkpoint of the installation it replaces: a
    # rollback on purpose. That checkpoint is kept under another name, and a new one starts.
    set_aside_checkpoint = set_aside(settings.checkpoint_file, datetime.now(UTC))
    installation = open_installation(settings)
    try:
        with installation.store.write() as conn:
            detail: dict[str, Any] = {"made_at": header.get("made_at")}
            if set_aside_checkpoint is not None:
                detail["checkpoint_set_aside"] = str(set_aside_checkpoint)
            record(conn, installation, actor, "backup.restore", detail=detail)
    finally:
        installation.close()
    return RestoreReport(header["tables"], str(header["made_at"]), str(header["stacksafe_version"]))


@contextlib.contextmanager
def _opened_file(path: Path) -> Iterator[BinaryIO]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ConfigurationError(f"backup file {path} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read backup file {path}: {exc}") from None
    with handle:
        yield handle


def _target(settings: Settings) -> tuple[Store, list[Path]]:
    """The store to restore into; a new SQLite file (owner-only) when there is none yet."""
    sqlite_file = settings.sqlite_path
    created: list[Path] = []
    if sqlite_file is not None and not sqlite_file.exists():
        if settings.uses_default_sqlite:
            sqlite_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not sqlite_file.parent.is_dir():
            raise ConfigurationError(f"directory {sqlite_file.parent} does not exist")
        os.close(os.open(sqlite_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        created = [sqlite_file.with_name(sqlite_file.name + s) for s in ("", "-wal", "-shm")]
    try:
        return store_for(settings), created
    except BaseException:
        for file in created:
            with contextlib.suppress(OSError):
                os.unlink(file)
        raise


def _check_empty(conn: Connection, keyring: Keyring, settings: Settings) -> None:
    held = {
        table.name: n
        for table in dump.TABLES
        if table.name not in dump.KEY_TABLES and (n := dump.count_rows(conn, table))
    }
    if held:
        shown = ", ".join(f"{n} {name}" for name, n in held.items())
        raise Conflict(
            f"the database {redact_url(settings.database_url)} is not empty ({shown}); "
            "restore only into a new database (restore creates the schema itself: "
            "no `stacksafe init` needed)"
        )
    registered = master_key_check_values(conn)
    if registered:  # an `initialise`d database: its key must be the backup's
        keyring.verify(registered)


def _load(conn: Connection, source: BinaryIO, keyring: Keyring, checked: dict[str, Any]) -> None:
    """Insert the rows of a file the first pass authenticated (whose header was ``checked``)."""
    for table in reversed(dump.TABLES):  # server keys before the master keys they name
        if table.name in dump.KEY_TABLES:
            dump.delete_rows(conn, table)
    batch: list[dict[str, Any]] = []
    current: list[Table] = []

    def flush() -> None:
        if batch:
            dump.insert_rows(conn, current[0], batch)
            batch.clear()

    def add(table: Table, row: dict[str, Any]) -> None:
        if current and current[0] is not table:
            flush()
            current.clear()
        if not current:
            current.append(table)
        batch.append(row)
        if len(batch) >= _INSERT_BATCH:
            flush()

    if _read(source, keyring, add) != checked:
        # Another backup put in its place between the passes: what was checked is not this.
        raise IntegrityError("the backup file changed while it was being restored")
    flush()
    dump.reset_sequences(conn)
