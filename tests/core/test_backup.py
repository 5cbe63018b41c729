"""Backup and restore (core.backup), on SQLite and PostgreSQL: a restored database holds the
same rows, reveals the same values and history, authenticates the same tokens and keeps an
intact audit chain; a wrong key, a damaged file or a database that is not empty changes nothing."""

from __future__ import annotations

import itertools
import shutil
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select

from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.backup import backup, restore
from stacksafe.core.installation import Installation, initialise, open_installation
from stacksafe.core.principals import authenticate, create_token, create_user
from stacksafe.core.rotation import set_policy
from stacksafe.core.secrets import list_secrets, set_secret, unset_secret
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.core.versions import history
from stacksafe.crypto import generate_master_key, write_key_file
from stacksafe.errors import ConfigurationError, Conflict, IntegrityError
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import (
    accounts,
    audit_events,
    audit_head,
    failures,
    metadata,
    principals_revision,
    stacks,
)
from tests.actors import LOCAL
from tests.postgres import Cluster

_targets = itertools.count(1)
CHUNK = 512  # small chunks: a test backup spans many


@pytest.fixture
def target(settings: Settings, second_database_url: str, tmp_path: Path) -> Settings:
    """Settings of the empty database, with a copy of the source's master key file."""
    data_dir = tmp_path / "restored"
    data_dir.mkdir(mode=0o700)
    shutil.copy(settings.master_key_file, data_dir / "master.key")
    return Settings.load({"STACKSAFE_DATABASE_URL": second_database_url}, data_dir=data_dir)


def populate(installation: Installation) -> dict[str, Any]:
    account = create_account(installation, LOCAL, "acme-corp")
    web = create_stack(installation, LOCAL, "acme-corp", "web", "production")
    api = create_stack(installation, LOCAL, "acme-corp", "api", "staging")
    own, on_web, on_api = Target(account), Target(account, web), Target(account, api)
    for value in ("shared-value-one", "shared-value-two"):
        set_secret(installation, LOCAL, own, "SHARED_TOKEN", SecretValue(value))
    for n in range(3):
        set_secret(installation, LOCAL, on_web, "DATABASE_PASSWORD", SecretValue(f"hunter-{n}-pw"))
    set_secret(installation, LOCAL, on_api, "GONE_KEY", SecretValue("soon-unset-value"))
    unset_secret(installation, LOCAL, on_api, "GONE_KEY")
    for n in range(40):  # enough rows for many chunks
        set_secret(installation, LOCAL, on_api, f"BULK_KEY_{n}", SecretValue(f"bulk-value-{n}"))
    set_policy(installation, LOCAL, on_web, "DATABASE_PASSWORD", rotate_every=timedelta(days=30))
    create_user(installation, LOCAL, "dev@example.org", "acme-corp", "developer", {"web": "viewer"})
    token = create_token(installation, LOCAL, "dev@example.org", scopes=["public"])
    return {"targets": [own, on_web, on_api], "token": token.token}


def revealed(installation: Installation, targets: list[Target]) -> dict[str, Any]:
    """Every level's effective values, and every key's full revealed history."""
    found: dict[str, Any] = {}
    for target in targets:
        level = target.stack.name if target.stack else target.account.name
        secrets = list_secrets(installation, LOCAL, target, reveal=True, resolve=False)
        found[level] = {
            s.key: None if s.raw_value is None else s.raw_value.reveal() for s in secrets
        }
        own = {s.key for s in secrets if not s.inherited}
        if level == "api":
            own.add("GONE_KEY")  # deleted: listed nowhere, its history stays
        for key in sorted(own):
            entries = history(installation, LOCAL, target, key, reveal=True)
            found[f"{level}/{key}"] = [e.to_json() for e in entries]
    return found


def rows(url: str, audit_upto: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, but the level revisions (the database renews them on insert), the
    audit head, and audit events after ``audit_upto``."""
    from stacksafe.store import Store

    store = Store.from_url(url)
    found: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with store.read() as conn:
            for table in metadata.sorted_tables:
                if table is audit_head or table is principals_revision:
                    continue
                columns = [
                    c
                    for c in table.columns
                    if not (table in (accounts, stacks) and c.name == "secrets_revision")
                ]
                query = select(*columns).order_by(*table.primary_key.columns)
                if table is audit_events:
                    query = query.where(audit_events.c.seq <= audit_upto)
                found[table.name] = [tuple(row) for row in conn.execute(query)]
    finally:
        store.close()
    return found


def nothing_created(settings: Settings) -> bool:
    if settings.sqlite_path is not None:
        return not settings.sqlite_path.exists()
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names() == []
    finally:
        engine.dispose()


def test_round_trip(
    installation: Installation, settings: Settings, target: Settings, tmp_path: Path
) -> None:
    world = populate(installation)
    before = revealed(installation, world["targets"])
    events = verify_chain(installation).events
    expected_rows = rows(settings.database_url, events)
    path = tmp_path / "backup.ssb"

    report = backup(installation, LOCAL, path, chunk_size=CHUNK)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert report.bytes == path.stat().st_size
    assert report.tables["secrets"] == 43
    assert report.tables["audit_events"] == events
    # All but the principals revision, which each database keeps for itself (migration 0008),
    # and the counts of failed guesses (migration 0012), which would throttle strangers.
    assert list(report.tables) == [
        t.name for t in metadata.sorted_tables if t not in (principals_revision, failures)
    ]
    restored_report = restore(target, LOCAL, path)
    assert restored_report.tables == report.tables

    assert rows(target.database_url, events) == expected_rows
    restored = open_installation(target)
    try:
        assert revealed(restored, world["targets"]) == before
        assert authenticate(restored, world["token"]).name == "dev@example.org"
        chain = verify_chain(restored)
        assert chain.intact, chain.problem
        # The backed up events, the restore's own, and the reveals above.
        assert chain.events > events
        # Writes after a restore get new ids (PostgreSQL: the sequences moved past the rows).
        set_secret(restored, LOCAL, world["targets"][1], "AFTER_RESTORE", SecretValue("new"))
        create_account(restored, LOCAL, "another-account")
    finally:
        restored.close()


def test_the_file_holds_no_value_key_name_or_email(
    installation: Installation, tmp_path: Path
) -> None:
    populate(installation)
    path = tmp_path / "backup.ssb"
    backup(installation, LOCAL, path)
    raw = path.read_bytes()
    for text in (
        "hunter-2-pw",
        "shared-value-two",
        "bulk-value-7",
        "DATABASE_PASSWORD",
        "SHARED_TOKEN",
        "BULK_KEY",
        "dev@example.org",
        "acme-corp",
        "secret.set",
    ):
        assert text.encode() not in raw
        assert text.encode("utf-16-le") not in raw


def test_backup_refuses_to_overwrite(installation: Installation, tmp_path: Path) -> None:
    path = tmp_path / "backup.ssb"
    path.write_bytes(b"precious")
    with pytest.raises(Conflict, match="refusing to overwrite"):
        backup(installation, LOCAL, path)
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".backup")] == []


def test_restore_into_an_initialised_database(
    installation: Installation, target: Settings, tmp_path: Path
) -> None:
    """A database `initialise` made (master and server keys only) takes the backup's keys."""
    world = populate(installation)
    before = revealed(installation, world["targets"])
    path = tmp_path / "backup.ssb"
    backup(installation, LOCAL, path)
    by_text = Settings.load(
        {
            "STACKSAFE_DATABASE_URL": target.database_url,
            "STACKSAFE_MASTER_KEY": target.master_key_file.read_text(),
        },
        data_dir=target.data_dir,
    )
    initialise(by_text)[0].close()
    restore(by_text, LOCAL, path)
    restored = open_installation(target)
    try:
        assert revealed(restored, world["targets"]) == before
        assert verify_chain(restored).intact
        assert authenticate(restored, world["token"]).name == "dev@example.org"
    finally:
        restored.close()


def test_restore_refuses_a_database_that_is_not_empty(
    installation: Installation, settings: Settings, tmp_path: Path
) -> None:
    populate(installation)
    path = tmp_path / "backup.ssb"
    backup(installation, LOCAL, path)
    events = verify_chain(installation).events
    before = rows(settings.database_url, events + 10)
    with pytest.raises(Conflict, match="is not empty"):
        restore(settings, LOCAL, path)
    assert rows(settings.database_url, events + 10) == before
    assert verify_chain(installation).events == events


def test_wrong_master_key_writes_nothing(
    installation: Installation, target: Settings, tmp_path: Path
) -> None:
    populate(installation)
    path = tmp_path / "backup.ssb"
    backup(installation, LOCAL, path)
    target.master_key_file.unlink()
    write_key_file(target.master_key_file, [generate_master_key()])
    with pytest.raises(ConfigurationError, match="not the one this backup was made with"):
        restore(target, LOCAL, path)
    assert nothing_created(target)


def _damaged(raw: bytes, how: str) -> bytes:
    if how == "flipped":
        middle = bytearray(raw)
        middle[len(raw) // 2] ^= 0x20
        return bytes(middle)
    if how == "truncated":
        return raw[: len(raw) - 100]
    assert how == "reordered"
    header_end = raw.index(b"stacksafe-backup") + 16 + 1 + 4 + 32
    wrapped = int.from_bytes(raw[header_end : header_end + 2], "big")
    start = header_end + 2 + wrapped + 4
    chunks, rest = [], raw[start:]
    while rest:
        length = 4 + int.from_bytes(rest[:4], "big")
        chunks.append(rest[:length])
        rest = rest[length:]
    assert len(chunks) > 3
    chunks[1], chunks[2] = chunks[2], chunks[1]
    return raw[:start] + b"".join(chunks)


@pytest.mark.parametrize("how", ["flipped", "truncated", "reordered"])
def test_a_damaged_file_writes_nothing(
    installation: Installation, target: Settings, tmp_path: Path, how: str
) -> None:
    populate(installation)
    path = tmp_path / "backup.ssb"
    backup(installation, LOCAL, path, chunk_size=CHUNK)
    damaged = tmp_path / "damaged.ssb"
    damaged.write_bytes(_damaged(path.read_bytes(), how))
    with pytest.raises(IntegrityError):
        restore(target, LOCAL, damaged)
    assert nothing_created(target)


def test_a_backup_of_another_schema_revision_is_refused(
    installation: Installation, target: Settings, tmp_path: Path
) -> None:
    import json
    import zlib

    from stacksafe.crypto.stream import SealedWriter

    path = tmp_path / "old.ssb"
    header = {
        "format": "stacksafe-backup-1",
        "schema_revision": "0006",
        "stacksafe_version": "0.0.9",
        "made_at": "2026-01-01T00:00:00+00:00",
        "tables": {},
    }
    with path.open("wb") as out:
        writer = SealedWriter(out, installation.data_keys.keyring)
        writer.write(zlib.compress(json.dumps(header).encode() + b"\n"))
        writer.finish()
    with pytest.raises(ConfigurationError, match="schema revision 0006"):
        restore(target, LOCAL, path)
    assert nothing_created(target)


def test_sqlite_to_postgresql(tmp_path: Path, pg_cluster: Cluster) -> None:
    source = Settings.load(
        {"STACKSAFE_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'stacksafe.db'}"},
        data_dir=tmp_path / "data",
    )
    (tmp_path / "data").mkdir()
    installation, _ = initialise(source)
    path = tmp_path / "backup.ssb"
    try:
        world = populate(installation)
        before = revealed(installation, world["targets"])
        events = verify_chain(installation).events
        expected_rows = rows(source.database_url, events)
        backup(installation, LOCAL, path)
    finally:
        installation.close()
    name = f"stacksafe_from_sqlite_{next(_targets)}"
    url = pg_cluster.create_database(name)
    try:
        target = Settings.load({"STACKSAFE_DATABASE_URL": url}, data_dir=tmp_path / "data")
        restore(target, LOCAL, path)
        assert rows(url, events) == expected_rows
        # The same data dir: the old installation's audit checkpoint (the log before the
        # backup's own event) is kept under another name, not taken for a rollback.
        kept = list((tmp_path / "data").glob("audit.checkpoint.before-restore-*"))
        assert len(kept) == 1
        restored = open_installation(target)
        try:
            assert revealed(restored, world["targets"]) == before
            assert verify_chain(restored).intact
            assert authenticate(restored, world["token"]).name == "dev@example.org"
            create_account(restored, LOCAL, "another-account")
        finally:
            restored.close()
    finally:
        pg_cluster.drop_database(name)


def _sealed_backup(installation: Installation, path: Path, plain: bytes) -> None:
    """``plain`` (the compressed JSON lines of a backup) sealed as a backup file is: authentic,
    so what follows is about what a genuine file may hold, not about tampering."""
    from stacksafe.crypto.stream import SealedWriter

    with path.open("wb") as out:
        writer = SealedWriter(out, installation.data_keys.keyring)
        writer.write(plain)
        writer.finish()


def _lines(*records: object) -> bytes:
    import json

    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def _header(tables: dict[str, int]) -> dict[str, object]:
    from stacksafe.store.migrate import HEAD_REVISION

    return {
        "format": "stacksafe-backup-1",
        "schema_revision": HEAD_REVISION,
        "stacksafe_version": "0.1.0",
        "made_at": "2026-01-01T00:00:00+00:00",
        "tables": tables,
    }


def _every_table_empty() -> list[dict[str, object]]:
    from stacksafe.store import backup as dump

    return [{"table": t.name, "columns": dump.column_names(t)} for t in dump.TABLES]


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ("other format", "this is not a stacksafe backup of a known format"),
        ("not zlib", "the backup file's contents are damaged: Error -3"),
        ("no end of stream", r"the backup file's contents are damaged \(incomplete data\)"),
        ("row before any table", "contents are damaged: a row outside any table"),
        ("unknown table", "contents are damaged: expected table .*, found secrets_of_another"),
        ("counts differ", "the backup file's row counts differ from its header"),
    ],
)
def test_a_well_sealed_file_of_the_wrong_shape_writes_nothing(
    installation: Installation, target: Settings, tmp_path: Path, contents: str, message: str
) -> None:
    """Authenticated is not enough: the file's records must be a backup's, in order, with the
    row counts its header announces; else IntegrityError, and no database is made."""
    import zlib

    every_table = _every_table_empty()
    plain = {
        "other format": zlib.compress(_lines({"format": "stacksafe-backup-0"})),
        "not zlib": b"these bytes were never compressed",
        "row before any table": zlib.compress(_lines(_header({}), [1, "a row"])),
        "unknown table": zlib.compress(
            _lines(_header({}), {"table": "secrets_of_another", "columns": ["id"]})
        ),
        # Every table, each empty, where the header announces none: the counts disagree.
        "counts differ": zlib.compress(_lines(_header({}), *every_table)),
    }.get(contents)
    if contents == "no end of stream":
        # Whole records, flushed, but the stream never ended: a file cut at a chunk boundary.
        compressor = zlib.compressobj()
        expected = {str(t["table"]): 0 for t in every_table}
        plain = compressor.compress(_lines(_header(expected), *every_table))
        plain += compressor.flush(zlib.Z_SYNC_FLUSH)
    assert plain is not None
    path = tmp_path / "odd.ssb"
    _sealed_backup(installation, path, plain)
    with pytest.raises(IntegrityError, match=message):
        restore(target, LOCAL, path)
    assert nothing_created(target)


def test_an_empty_backup_of_the_right_shape_restores(
    installation: Installation, target: Settings, tmp_path: Path
) -> None:
    """The control for the test above: the same records with the counts their header announces
    pass the shape checks, and the restore goes on to compare the master keys (none here)."""
    import zlib

    every_table = _every_table_empty()
    expected = {str(t["table"]): 0 for t in every_table}
    path = tmp_path / "empty.ssb"
    _sealed_backup(installation, path, zlib.compress(_lines(_header(expected), *every_table)))
    with pytest.raises(ConfigurationError, match="the database has no master key registered"):
        restore(target, LOCAL, path)
    assert nothing_created(target)


def test_backup_into_a_missing_directory_is_refused(
    installation: Installation, tmp_path: Path
) -> None:
    path = tmp_path / "no-such-directory" / "backup.ssb"
    with pytest.raises(ConfigurationError, match="no-such-directory does not exist"):
        backup(installation, LOCAL, path)
    assert not path.parent.exists()


@pytest.mark.usefixtures("installation")  # the master key file `target` copies
def test_restore_from_what_cannot_be_read_writes_nothing(target: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"backup file .*missing\.ssb does not exist"):
        restore(target, LOCAL, tmp_path / "missing.ssb")
    a_directory = tmp_path / "a-directory.ssb"
    a_directory.mkdir()
    with pytest.raises(ConfigurationError, match=r"cannot read backup file .*a-directory\.ssb"):
        restore(target, LOCAL, a_directory)
    assert nothing_created(target)
