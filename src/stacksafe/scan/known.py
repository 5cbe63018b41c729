"""The known-value detector: every managed value, matched in one pass (Aho-Corasick).

The automaton (ahocorasick-rs's ``BytesAhoCorasick``) is built over the UTF-8 bytes of the
values, so any input, text or binary, is scanned as bytes without decoding; matches overlap (a
value inside another is found too). Input is fed in chunks; the last ``longest - 1``
bytes of each buffer are kept and scanned again with the next chunk, so a value split across
chunk boundaries (or across ``read()`` calls on a pipe) is still found, and found once: a match
is reported only when it ends in the new bytes.

Values shorter than ``MIN_VALUE_LENGTH`` characters are not looked for: ``true``, ``8080`` or
``admin`` would match all over any repository. The values live in this object only (in this
process's memory), never in its repr, pickles or exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, NoReturn

from ahocorasick_rs import BytesAhoCorasick, MatchKind

from stacksafe.model import SecretValue
from stacksafe.scan.findings import KNOWN_VALUE, Finding, Location, fingerprint

__all__ = ["CHUNK_SIZE", "MIN_VALUE_LENGTH", "KnownValues", "StreamMatcher"]

MIN_VALUE_LENGTH = 8
# Chunks of this size scan faster than whole large files: cache locality (bench/README.md,
# scan.py).
CHUNK_SIZE = 1 << 20
_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 continuation bytes: not a character start


def _characters(data: bytes) -> int:
    """Code points in ``data`` as UTF-8 (continuation bytes do not count)."""
    return len(data.translate(None, _CONTINUATION))


class KnownValues:
    """The values to look for, by the locations (account, stack, key) they live under.

    The same value under several keys is one pattern reporting all its locations.
    ``skipped`` names the locations whose value is too short (or blank) to be looked for.
    """

    __slots__ = ("_automaton", "_values", "count", "longest", "skipped")

    def __init__(
        self,
        entries: Iterable[tuple[Location, SecretValue]],
        *,
        min_length: int = MIN_VALUE_LENGTH,
    ) -> None:
        by_value: dict[bytes, set[Location]] = {}
        skipped: set[Location] = set()
        for location, value in entries:
            text = value.reveal()
            if len(text) < min_length or not text.strip():
                skipped.add(location)
                continue
            by_value.setdefault(text.encode("utf-8"), set()).add(location)
        values = [
            (data, tuple(sorted(locations, key=Location.sort_key)))
            for data, locations in by_value.items()
        ]
        # Standard match kind: every match reported, overlapping ones included.
        self._automaton = (
            BytesAhoCorasick([data for data, _ in values], matchkind=MatchKind.Standard)
            if values
            else None
        )
        self._values = values
        self.count = len(values)
        self.longest = max((len(data) for data, _ in values), default=0)
        self.skipped = tuple(sorted(skipped, key=Location.sort_key))

    def __repr__(self) -> str:
        return f"<KnownValues: {self.count} values>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("KnownValues cannot be pickled: it holds plaintext")

    def matcher(
        self, path: str, key: bytes, *, commit: str | None = None, first_line: int = 1
    ) -> StreamMatcher:
        """A matcher for one input named ``path``; fingerprints are keyed with ``key``."""
        return StreamMatcher(self, path, key, commit, first_line)

    def scan_bytes(
        self,
        data: bytes,
        path: str,
        key: bytes,
        *,
        commit: str | None = None,
        first_line: int = 1,
    ) -> list[Finding]:
        """Every managed value in ``data`` (the text of ``path`` from line ``first_line``)."""
        matcher = self.matcher(path, key, commit=commit, first_line=first_line)
        found: list[Finding] = []
        for start in range(0, len(data), CHUNK_SIZE):
            found.extend(matcher.feed(data[start : start + CHUNK_SIZE]))
        return found

    def scan_stream(self, stream: IO[bytes], path: str, key: bytes) -> Iterator[Finding]:
        """Every managed value in a binary stream, read ``CHUNK_SIZE`` at a time."""
        matcher = self.matcher(path, key)
        while chunk := stream.read(CHUNK_SIZE):
            yield from matcher.feed(chunk)

    def _hits(self, buffer: bytes, fresh: int) -> list[tuple[int, int]]:
        """(start, value index) of matches in ``buffer`` whose last byte is at or after
        ``fresh``."""
        if self._automaton is None:
            return []
        return sorted(
            (start, index)
            for index, start, end in self._automaton.find_matches_as_indexes(
                buffer, overlapping=True
            )
            if end > fresh
        )

    def _located(self, index: int) -> tuple[bytes, tuple[Location, ...]]:
        return self._values[index]


class StreamMatcher:
    """Feeds one input's chunks through the automaton, tracking line and column."""

    __slots__ = ("_col", "_commit", "_key", "_known", "_line", "_path", "_tail")

    def __init__(
        self, known: KnownValues, path: str, key: bytes, commit: str | None, first_line: int
    ) -> None:
        self._known, self._path, self._key, self._commit = known, path, key, commit
        self._tail = b""
        self._line = first_line  # the line the buffer starts on
        self._col = 0  # characters between that line's start and the buffer's start

    def __repr__(self) -> str:
        return f"<StreamMatcher {self._path!r} at line {self._line}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("StreamMatcher cannot be pickled: it holds input text")

    def feed(self, chunk: bytes) -> list[Finding]:
        """The values that end in ``chunk`` (possibly starting in earlier chunks)."""
        if not chunk or not self._known.count:
            return []
        buffer = self._tail + chunk
        found = self._findings(buffer, self._known._hits(buffer, len(self._tail)))
        keep = min(len(buffer), self._known.longest - 1)
        consumed = buffer[: len(buffer) - keep]
        newlines = consumed.count(b"\n")
        if newlines:
            self._line += newlines
            self._col = _characters(consumed[consumed.rfind(b"\n") + 1 :])
        else:
            self._col += _characters(consumed)
        self._tail = buffer[len(buffer) - keep :]
        return found

    def _findings(self, buffer: bytes, hits: list[tuple[int, int]]) -> list[Finding]:
        found = []
        line, last_newline, position = self._line, -1, 0
        for start, index in hits:
            newlines = buffer.count(b"\n", position, start)
            if newlines:
                line += newlines
                last_newline = buffer.rfind(b"\n", position, start)
            position = start
            if last_newline >= 0:
                column = _characters(buffer[last_newline + 1 : start]) + 1
            else:
                column = self._col + _characters(buffer[:start]) + 1
            data, locations = self._known._located(index)
            found.append(
                Finding(
                    rule=KNOWN_VALUE,
                    description="managed secret value",
                    path=self._path,
                    line=line,
                    column=column,
                    fingerprint=fingerprint(self._key, KNOWN_VALUE, self._path, data),
                    commit=self._commit,
                    locations=locations,
                )
            )
        return found
