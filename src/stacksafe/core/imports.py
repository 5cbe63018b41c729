"""Importing many values into one level: all or nothing for the user, in batches on SQLite.

SQLite has one writer at a time and every reveal appends an audit event, so one transaction
writing 20,000 keys (~8 s) held every other user's reveal for as long. An import therefore
writes at most ``BATCH_KEYS`` keys per transaction there and stays off the write lock between
batches as long as it held it (``Store.yield_write_lock``, as the key rotations do).

All or nothing across batches: the import first reads the level's values (a read: no lock),
then writes batch after batch, each with its own ``secret.import`` audit event (an ``import``
id and ``batch`` [n, of] tie them together). If any batch fails, or the expansion bound
(core.expansion) refuses what the import left, the batches already written are undone before
the error is raised: each key it added gets a tombstone, each key it changed gets its previous
value back, as new versions with one ``secret.import.undo`` event per batch. Undoing appends
rather than deleting versions on purpose: versions are immutable and the audit log names them
(``keys``: key -> version), so the history shows the import and its undo, and every value and
key reads as before. A key written again by someone else meanwhile keeps their value.
Between batches other readers can see part of a running import; a process killed between
batches leaves the batches written so far (their audit events say how far it got).

An import no larger than a batch, and every import on PostgreSQL (it locks rows, not the
database: one transaction stalls nobody), is one transaction as before.
"""

from __future__ import annotations

import secrets as random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from stacksafe.core.access import Action, Principal
from stacksafe.core.audit import record
from stacksafe.core.data_keys import sealing_key
from stacksafe.core.expansion import check_expansion
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.generate import auto_generated
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.level_reads import open_rows
from stacksafe.core.references import escape_literal
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_key, validate_value
from stacksafe.core.version_writes import ACTION_SET, append_version, prune_after_write
from stacksafe.crypto import Binding
from stacksafe.errors import StorageUnavailable
from stacksafe.model import SecretValue
from stacksafe.store import Connection
from stacksafe.store import secrets as queries
from stacksafe.store.bulk import FirstVersion, insert_first_versions

__all__ = ["BATCH_KEYS", "ImportReport", "import_secrets"]

# Keys per transaction by database; a database not named here imports in one transaction.
# 250 keys hold SQLite's write lock for ~0.1 s (bench/README.md, import_bench.py).
BATCH_KEYS = {"sqlite": 250}

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did, by key."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Written:
    """A version the import wrote, and what the key held before (None: it did not exist)."""

    key: str
    version: int
    before: SecretValue | None


@dataclass(frozen=True, slots=True)
class _Batch:
    report: ImportReport
    written: list[_Written]


Current = dict[str, tuple[int, SecretValue]]  # key -> (version, value) of the level's own


def import_secrets(
    installation: Installation,
    actor: Principal,
    target: Target,
    entries: Mapping[str, SecretValue],
    *,
    provenance: Mapping[str, object] | None = None,
    raw: bool = False,
    batch_keys: int | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Set many secrets at ``target``'s own level: all or nothing (see the module's docstring).

    Values are literal: each is stored so that it reads back exactly as given (every ``${``
    escaped as ``$${``: a ``${`` in an imported value is never taken for a reference). With
    ``raw`` they are stored text as ``export --raw`` writes it: ``${KEY}`` references stay
    live and ``$${`` is an escape (docs/references.md). ``provenance`` (where the values came
    from) goes into the audit events. ``batch_keys`` overrides ``BATCH_KEYS``;
    ``progress(done, total)`` is called after each batch.
    """
    if not raw:
        entries = {k: SecretValue(escape_literal(v.reveal())) for k, v in entries.items()}
    for key, value in entries.items():
        validate_key(key)
        validate_value(key, value, installation.max_value_bytes)
    action = Action.WRITE_ACCOUNT_SECRETS if target.stack is None else Action.WRITE_STACK_SECRETS
    allow(installation, actor, action, target.account, target.stack, keys=sorted(entries))
    keys = sorted(entries)
    size = batch_keys or BATCH_KEYS.get(installation.store.dialect) or len(keys) or 1
    importing = _Import(installation, actor, target, entries, dict(provenance or {}))
    if len(keys) <= size:

        def whole(conn: Connection) -> _Batch:
            current = importing.read_current(conn)
            batch = importing.write(conn, keys, current, fresh=True)
            if batch.written:  # it opens the whole level: not for an import that changed nothing
                keys_written = [w.key for w in batch.written]
                check_expansion(conn, installation, target, keys_written, written=keys_written)
            return batch

        report = installation.store.transact(whole, "importing secrets", snapshot=True).report
        if progress is not None:
            progress(len(keys), len(keys))
        return report
    return importing.in_batches(keys, size, progress)


class _Import:
    """One import's values and where they go."""

    def __init__(
        self,
        installation: Installation,
        actor: Principal,
        target: Target,
        entries: Mapping[str, SecretValue],
        provenance: dict[str, object],
    ) -> None:
        self.installation, self.actor, self.target = installation, actor, target
        self.entries, self.provenance = entries, provenance

    def read_current(self, conn: Connection, key: str | None = None) -> Current:
        """The level's own live values (or ``key``'s), with their versions."""
        own = Target(self.target.account, self.target.stack)
        rows = queries.scope_secrets(conn, own.account.id, own.stack_id, key)
        opened = open_rows(conn, self.installation, own, rows, True)
        return {s.key: (s.version, s.raw_value) for s in opened if s.raw_value is not None}

    def write(
        self,
        conn: Connection,
        keys: Sequence[str],
        current: Current,
        *,
        fresh: bool,
        part: tuple[int, int, str] | None = None,
    ) -> _Batch:
        """Write ``keys`` whose values differ from ``current`` (read in this transaction when
        ``fresh``; else compared with each key's head and read again where it moved)."""
        installation, target = self.installation, self.target
        account_id, stack_id = target.account.id, target.stack_id
        heads = dict(queries.scope_heads(conn, account_id, stack_id, keys))
        report = ImportReport()
        changes: list[tuple[str, SecretValue, SecretValue | None]] = []
        for key in keys:
            version, before = current.get(key, (0, None))
            head = heads.get(key)
            live = 0 if head is None or head.deleted else head.current_version
            if not fresh and live != version:
                # Written by someone else since the import read the level: compare with theirs.
                version, before = self.read_current(conn, key).get(key, (0, None))
            value = self.entries[key]
            generated = auto_generated(value)
            if generated is not None:
                # In a file imported again and again, AUTO_GENERATE means "generate once".
                if before is not None:
                    report.unchanged.append(key)
                    continue
                value = generated
            if before is None:
                report.added.append(key)
            elif before != value:
                report.changed.append(key)
            else:
                report.unchanged.append(key)
                continue
            changes.append((key, value, before))
        written: list[_Written] = []
        if changes:
            data_key = sealing_key(conn, installation, target, len(changes))
            now = installation.clock()
            # Keys the level never had go in as two multi-row statements (the common case of a
            # large import, and most of its time); the others append a version each.
            first = [c for c in changes if c[0] not in heads]
            sealed = [
                FirstVersion(
                    account_id,
                    stack_id,
                    key,
                    data_key.seal(value.reveal().encode("utf-8"), Binding(target.scope, key, 1)),
                )
                for key, value, _ in first
            ]
            insert_first_versions(conn, sealed, ACTION_SET, self.actor.name, now)
            written += [_Written(key, 1, None) for key, _, _ in first]
            for key, value, before in changes:
                if key in heads:
                    secret = append_version(
                        conn, target, key, value, data_key, self.actor.name, now
                    )
                    assert secret is not None  # noqa: S101 - a value was given: not a tombstone
                    written.append(_Written(key, secret.version, before))
            detail: dict[str, object] = {
                "keys": {w.key: w.version for w in written},
                "fingerprints": {k: fingerprint(installation, v) for k, v, _ in changes},
                **self.provenance,
            }
            if part is not None:
                detail["batch"], detail["import"] = [part[0], part[1]], part[2]
            self._record(conn, "secret.import", detail)
            prune_after_write(conn, installation, self.actor, target, [k for k, _, _ in changes])
        return _Batch(report, written)

    def in_batches(self, keys: Sequence[str], size: int, progress: Progress | None) -> ImportReport:
        """Write ``keys`` a batch per transaction; undo every batch if any part fails."""
        store = self.installation.store
        with store.read() as conn:
            current = self.read_current(conn)
        chunks = [keys[i : i + size] for i in range(0, len(keys), size)]
        import_id = random.token_hex(8)
        report = ImportReport()
        written: list[_Written] = []
        try:
            for number, chunk in enumerate(chunks, 1):

                def work(conn: Connection, chunk: Sequence[str] = chunk, n: int = number) -> _Batch:
                    return self.write(
                        conn, chunk, current, fresh=False, part=(n, len(chunks), import_id)
                    )

                started = time.perf_counter()
                batch = store.transact(work, f"importing secrets (batch {number}/{len(chunks)})")
                written += batch.written
                for mine, theirs in zip(_lists(report), _lists(batch.report), strict=True):
                    mine += theirs
                store.yield_write_lock(time.perf_counter() - started)
                if progress is not None:
                    progress(min(number * size, len(keys)), len(keys))
            # Checked once on what the import left (a read), not under the lock per batch: it
            # opens the whole level.
            if written:
                keys_written = [w.key for w in written]
                with store.read() as conn:
                    check_expansion(
                        conn, self.installation, self.target, keys_written, written=keys_written
                    )
        except BaseException as failure:
            try:
                self._undo(written, size, import_id)
            except StorageUnavailable as undo_failed:
                # Say what is left behind, and how to finish, rather than only the last failure.
                raise StorageUnavailable(
                    f"the import stopped with {len(written):,} keys written and undoing them "
                    f"failed too ({undo_failed.message}); import the file again to finish it "
                    f"(audit: secret.import events with import id {import_id})",
                    undo_failed.reason,
                ) from failure
            raise
        return report

    def _undo(self, written: Sequence[_Written], size: int, import_id: str) -> None:
        """Give every key ``written`` its value from before the import, a batch at a time."""
        store = self.installation.store
        for start in range(0, len(written), size):
            chunk = written[start : start + size]
            started = time.perf_counter()
            undo = partial(self._undo_batch, chunk=chunk, import_id=import_id)
            store.transact(undo, "undoing a failed import")
            store.yield_write_lock(time.perf_counter() - started)

    def _undo_batch(self, conn: Connection, chunk: Sequence[_Written], import_id: str) -> None:
        installation, target = self.installation, self.target
        data_key = sealing_key(conn, installation, target, len(chunk))
        now = installation.clock()
        undone: dict[str, int] = {}
        restored: dict[str, str] = {}
        for one in chunk:
            head = queries.secret_head(conn, target.account.id, target.stack_id, one.key)
            if head is None or head.deleted or head.current_version != one.version:
                continue  # written again since: that later value stands
            append_version(
                conn,
                target,
                one.key,
                one.before,
                None if one.before is None else data_key,
                self.actor.name,
                now,
                expected_version=one.version,
            )
            undone[one.key] = one.version + 1
            if one.before is not None:
                restored[one.key] = fingerprint(installation, one.before)
        if undone:
            detail = {"keys": undone, "fingerprints": restored, "import": import_id}
            self._record(conn, "secret.import.undo", detail)
            prune_after_write(conn, installation, self.actor, target, sorted(undone))

    def _record(self, conn: Connection, action: str, detail: dict[str, object]) -> None:
        target = self.target
        record(
            conn,
            self.installation,
            self.actor,
            action,
            account=target.account,
            stack=target.stack,
            detail=detail,
        )


def _lists(report: ImportReport) -> Iterable[list[str]]:
    return report.added, report.changed, report.unchanged
