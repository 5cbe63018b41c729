"""The pattern detector: stacksafe's rules (``scan.rules``) over files, patches and streams.

Small scans run in this process. Past ``_POOL_AFTER`` bytes the work goes to worker processes
(``spawn``: each compiles the rules once), one per core, in tasks of about ``_BYTES_PER_TASK``:
a repository of hundreds of megabytes uses every core. A worker sends back the rule, path,
line, column and a keyed fingerprint of each match; the matched text never leaves it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from stacksafe.scan.findings import Finding, fingerprint
from stacksafe.scan.ruleset import RuleSet

__all__ = ["PatternScanner", "default_workers"]

# Below this many bytes a pool costs more (process start, rule compilation) than it saves.
_POOL_AFTER = 8 << 20
_BYTES_PER_TASK = 1 << 20


def default_workers(busy: int = 0) -> int:
    """Worker processes for a scan: one per core (at most 8), less ``busy`` cores that
    something else keeps busy for the whole scan (git writing a history); 1: this process."""
    return max(1, min(os.cpu_count() or 1, 8) - busy)


@dataclass(frozen=True, slots=True)
class _Text:
    """Text to scan: a file to read (``data`` None) or bytes in hand (patch runs, stdin)."""

    display: str
    real: str | None = None
    data: bytes | None = None
    first_line: int = 1
    commit: str | None = None
    first_column: int = 1  # where the first line's bytes start (the rest of a cut line)
    cut: bool = False  # it ends inside a line: a match reaching its end is the next text's


# (rule id, description, path, line, column, fingerprint, commit): what a worker sends back.
_Hit = tuple[str, str, str, int, int, str, str | None]


@dataclass(slots=True)
class _Worker:
    """The state of a worker process (or of this one when it scans in-process)."""

    key: bytes = b""
    rules: RuleSet | None = None
    disabled: tuple[str, ...] = ()


_worker = _Worker()


def _init(key: bytes, disabled: tuple[str, ...]) -> None:
    if _worker.rules is not None and (_worker.key, _worker.disabled) == (key, disabled):
        return  # this process scans in turns (``eager``): its rules are ready
    _worker.key, _worker.disabled = key, disabled
    # Imported here: compiling the catalogue is the work of the process that matches.
    from stacksafe.scan.rules.catalogue import RULES

    _worker.rules = RuleSet.disabling(RULES, disabled)


def _scan(texts: Sequence[_Text]) -> list[_Hit]:
    key, rules = _worker.key, _worker.rules
    if rules is None:
        raise RuntimeError("the pattern detector's worker was not initialised")
    hits: list[_Hit] = []
    for item in texts:
        data = item.data
        if data is None and item.real is not None:
            try:
                with open(item.real, "rb") as stream:
                    data = stream.read()
            except OSError:
                continue
        if data is None:
            continue
        text = data.decode("utf-8", "surrogateescape")
        for m in rules.matches(text):
            if item.cut and m.end == len(text):
                continue
            secret = m.secret.encode("utf-8", "surrogateescape")
            hits.append(
                (
                    m.rule.id,
                    m.rule.description,
                    item.display,
                    item.first_line + m.line - 1,
                    m.column + (item.first_column - 1 if m.line == 1 else 0),
                    fingerprint(key, m.rule.id, item.display, secret),
                    item.commit,
                )
            )
    return hits


class PatternScanner:
    """Collects inputs, scans them (in this process or a pool), then ``results()``.

    ``disabled`` names rules not to run (``config.ScanConfig`` checks they exist). ``eager``:
    inputs come while something else produces them (git writing a history), so in this process
    they are scanned as they come, a task's worth at a time, not all at ``results()``.
    """

    def __init__(
        self,
        key: bytes,
        workers: int | None = None,
        disabled: Sequence[str] = (),
        *,
        eager: bool = False,
    ) -> None:
        self._key = key
        self._disabled = tuple(disabled)
        self._workers = workers or default_workers()
        self._eager = eager
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[Future[list[_Hit]]] = []
        self._batch: list[_Text] = []
        self._batch_bytes = 0
        self._held: list[tuple[_Text, int]] = []
        self._held_bytes = 0
        self._added_bytes = 0  # every input so far, scanned here or held
        self._hits: list[_Hit] = []  # of inputs scanned here already

    def __enter__(self) -> PatternScanner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def add_file(self, real: str, display: str, size: int) -> None:
        """Scan a text file (``real`` is opened, ``display`` is reported)."""
        self._add(_Text(display, real=real), size)

    def add_text(
        self,
        display: str,
        data: bytes,
        first_line: int = 1,
        commit: str | None = None,
        first_column: int = 1,
        cut: bool = False,
    ) -> None:
        """Scan ``data`` as lines of ``display`` from ``first_line`` (a patch's added lines,
        a block of stdin), its first byte at ``first_column`` of that line, ``cut`` inside a
        line that the next text goes on with; ``commit`` is reported with its findings."""
        if data:
            self._add(_Text(display, None, data, first_line, commit, first_column, cut), len(data))

    def add_lines(self, display: str, first_line: int, lines: Sequence[str]) -> None:
        """Scan ``lines`` (each ending with a newline) of ``display`` from ``first_line``."""
        self.add_text(display, "".join(lines).encode("utf-8", "surrogateescape"), first_line)

    def _add(self, item: _Text, size: int) -> None:
        self._added_bytes += size
        if self._pool is None and self._workers > 1 and self._added_bytes > _POOL_AFTER:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=(self._key, self._disabled),
            )
            for held, held_size in self._held:
                self._queue(held, held_size)
            self._held, self._held_bytes = [], 0
        if self._pool is None:
            self._held.append((item, size))
            self._held_bytes += size
            if self._eager and self._held_bytes >= _BYTES_PER_TASK:
                self._scan_held()
        else:
            self._queue(item, size)

    def _scan_held(self) -> None:
        """Scan the inputs held so far in this process."""
        if self._held:
            _init(self._key, self._disabled)
            self._hits.extend(_scan([item for item, _ in self._held]))
            self._held, self._held_bytes = [], 0

    def _queue(self, item: _Text, size: int) -> None:
        self._batch.append(item)
        self._batch_bytes += size
        if self._batch_bytes >= _BYTES_PER_TASK:
            self._flush()

    def _flush(self) -> None:
        if self._batch and self._pool is not None:
            self._pending.append(self._pool.submit(_scan, self._batch))
        self._batch, self._batch_bytes = [], 0

    def results(self) -> list[Finding]:
        """Wait for every input; the findings (never the matched text)."""
        self._scan_held()
        hits, self._hits = self._hits, []
        self._flush()
        for future in self._pending:
            try:
                hits.extend(future.result())
            except Exception as exc:
                # A worker's exception may quote the line it was reading: name its type only.
                raise RuntimeError(f"the pattern detector failed ({type(exc).__name__})") from None
        self._pending = []
        return [
            Finding(
                rule=rule,
                description=description,
                path=path,
                line=line,
                column=column,
                fingerprint=print_,
                commit=commit,
            )
            for rule, description, path, line, column, print_, commit in hits
        ]
