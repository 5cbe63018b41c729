"""The pattern detector: detect-secrets' plugins (AWS keys, private keys, tokens, entropy...).

detect-secrets keeps its settings (which plugins, which filters) in a process-wide cached
singleton, so it runs in worker processes started fresh (``spawn``) and configured once with
every built-in plugin and the default filters, as its own ``detect-secrets scan`` uses them.
This also keeps its work off the process that matches known values, and uses every core.

Workers get input through its public API only: ``scan_file`` for files, ``scan_diff`` for git
patches, and for stdin a block of lines written as a patch that adds them. The matched text
never leaves a worker: it sends back the type, path, line, column and a keyed fingerprint.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any

from stacksafe.scan.findings import Finding, fingerprint, rule_id

__all__ = ["PatternScanner", "added_lines_patch"]

# (secret type, path, line, column or None, fingerprint): what a worker sends back per match.
_Hit = tuple[str, str, int, int | None, str]

# A task is 32 KiB of files (at most 8): detect-secrets is slow per byte (bench/README.md,
# scan.py), so tasks stay far above their overhead and small enough for the workers to finish
# together.
_FILES_PER_TASK = 8
_BYTES_PER_TASK = 32 << 10

# The one piece of state of a worker process, set by its initializer.
_worker_key: list[bytes] = []


def _init_worker(key: bytes) -> None:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import configure_settings_from_baseline, get_filters

    classes: list[type] = list(get_mapping_from_secret_type_to_class().values())
    plugins = [{"name": cls.__name__} for cls in classes]
    settings = configure_settings_from_baseline({"plugins_used": plugins})
    # Patches name files that may no longer exist (history) or never did (stdin): the filter
    # that drops paths missing on disk would drop them all. Files are checked by the caller.
    settings.disable_filters("detect_secrets.filters.common.is_invalid_file")
    get_filters.cache_clear()
    _worker_key[:] = [key]


def _hit(secret: Any, display: str, column: int | None) -> _Hit:
    text = str(secret.secret_value or "").encode("utf-8", "surrogateescape")
    rule = rule_id(secret.type)
    return (
        secret.type,
        display,
        secret.line_number,
        column,
        fingerprint(_worker_key[0], rule, display, text),
    )


def _column(lines: Sequence[str], line_number: int, secret: Any) -> int | None:
    if not 0 < line_number <= len(lines) or not secret.secret_value:
        return None
    at = lines[line_number - 1].find(secret.secret_value)
    return None if at < 0 else at + 1


def _scan_files(files: Sequence[tuple[str, str]]) -> list[_Hit]:
    from detect_secrets.core.scan import scan_file

    hits: list[_Hit] = []
    for real, display in files:
        found = list(scan_file(real))
        if not found:
            continue
        try:
            with open(real, encoding="utf-8", errors="replace") as text:
                lines = text.read().splitlines()
        except OSError:
            lines = []
        hits.extend(_hit(s, display, _column(lines, s.line_number, s)) for s in found)
    return hits


def _scan_patch(patch: str) -> list[_Hit]:
    from detect_secrets.core.scan import scan_diff

    return [_hit(s, s.filename, None) for s in scan_diff(patch)]


def added_lines_patch(display: str, first_line: int, lines: Sequence[str]) -> str:
    """A unified diff that adds ``lines`` (each ending with a newline) to ``display`` at
    ``first_line``: how a block of stdin goes through detect-secrets' ``scan_diff``."""
    header = f"--- /dev/null\n+++ b/{display}\n@@ -0,0 +{first_line},{len(lines)} @@\n"
    return header + "".join("+" + line for line in lines)


class PatternScanner:
    """A pool of detect-secrets workers; submit inputs, then collect ``results()``.

    The pool starts on the first submission, so a scan that submits nothing starts no process.
    """

    def __init__(self, key: bytes, workers: int | None = None) -> None:
        self._key = key
        self._workers = workers or max(1, min(os.cpu_count() or 1, 4))
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[tuple[Future[list[_Hit]], str | None]] = []
        self._batch: list[tuple[str, str]] = []
        self._batch_bytes = 0

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

    def _submit(self, commit: str | None, fn: Any, *args: Any) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._key,),
            )
        self._pending.append((self._pool.submit(fn, *args), commit))

    def add_file(self, real: str, display: str, size: int) -> None:
        """Scan a text file (``real`` is opened, ``display`` is reported)."""
        self._batch.append((real, display))
        self._batch_bytes += size
        if len(self._batch) >= _FILES_PER_TASK or self._batch_bytes >= _BYTES_PER_TASK:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._submit(None, _scan_files, self._batch)
            self._batch, self._batch_bytes = [], 0

    def add_patch(self, patch: str, commit: str | None = None) -> None:
        """Scan the added lines of a unified diff (paths and line numbers from the diff)."""
        self._submit(commit, _scan_patch, patch)

    def add_lines(self, display: str, first_line: int, lines: Sequence[str]) -> None:
        """Scan ``lines`` of ``display`` starting at line ``first_line`` (e.g. from stdin)."""
        if lines:
            self.add_patch(added_lines_patch(display, first_line, lines))

    def results(self) -> list[Finding]:
        """Wait for every submission; the findings (never the matched text)."""
        self._flush()
        found: list[Finding] = []
        for future, commit in self._pending:
            try:
                hits = future.result()
            except Exception as exc:
                # A worker's exception may quote the line it was reading: name its type only.
                raise RuntimeError(f"the pattern detector failed ({type(exc).__name__})") from None
            found.extend(
                Finding(
                    rule=rule_id(secret_type),
                    description=secret_type,
                    path=path,
                    line=line,
                    column=column,
                    fingerprint=print_,
                    commit=commit,
                )
                for secret_type, path, line, column, print_ in hits
            )
        self._pending = []
        return found
