"""Masking secret values in a stream of bytes (`stacksafe run --mask`).

Every occurrence of a value (its UTF-8 bytes) becomes ``[stacksafe:KEY]``, also when the
value arrives split across reads. The masker only ever holds back the shortest possible tail:
the longest end of what it has seen that could still grow into a value. Everything before that
goes out at once, so output is not delayed by a fixed window. Values that overlap in the output
are masked as one stretch naming all their keys (``[stacksafe:A,B]``), so no part of either shows.
Matching is one Aho-Corasick automaton (pyahocorasick) over all values.

Values shorter than ``MIN_LENGTH`` bytes are not masked. Masking ``1`` or ``true`` would
mangle every line of output and hide nothing worth hiding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ahocorasick  # type: ignore[import-not-found]  # ships no type information

from stacksafe.model import SecretValue

__all__ = ["MIN_LENGTH", "Masker"]

MIN_LENGTH = 4


class Masker:
    def __init__(self, values: Mapping[str, SecretValue], min_length: int = MIN_LENGTH) -> None:
        keys_of: dict[bytes, list[str]] = {}
        for key in sorted(values):
            raw = values[key].reveal().encode("utf-8")
            if len(raw) >= min_length:
                keys_of.setdefault(raw, []).append(key)
        self._keys_of = keys_of
        # One automaton for every value: all matches, overlapping ones included, in one pass.
        self._automaton: Any = None
        if keys_of:
            automaton = ahocorasick.Automaton(ahocorasick.STORE_LENGTH, ahocorasick.KEY_SEQUENCE)
            for value in keys_of:
                automaton.add_word(tuple(value))
            automaton.make_automaton()
            self._automaton = automaton
        # For each value, the lengths k of its proper prefixes by their last byte, longest
        # first: a tail of the buffer can only be a prefix of length k if it ends in that byte.
        self._prefix_ends: list[tuple[bytes, dict[int, list[int]]]] = []
        for value in keys_of:
            ends: dict[int, list[int]] = {}
            for k in range(len(value) - 1, 0, -1):
                ends.setdefault(value[k - 1], []).append(k)
            self._prefix_ends.append((value, ends))
        self._pending = b""

    def __repr__(self) -> str:
        return f"Masker({len(self._keys_of)} values)"

    def _held_back(self, data: bytes) -> int:
        """The length of the longest end of ``data`` that is a proper prefix of a value."""
        if not data:
            return 0
        best = 0
        last = data[-1]
        for value, ends in self._prefix_ends:
            for k in ends.get(last, ()):
                if k <= best:
                    break
                if k <= len(data) and data.endswith(value[:k]):
                    best = k
                    break
        return best

    def _ranges(self, data: bytes) -> list[tuple[int, int, list[str]]]:
        """Every stretch covered by values (overlapping ones merged), with their keys."""
        assert self._automaton is not None  # noqa: S101 - callers check
        found = sorted(
            (end - length + 1, end + 1, data[end - length + 1 : end + 1])
            for end, length in self._automaton.iter(tuple(data))
        )
        merged: list[tuple[int, int, list[str]]] = []
        for start, end, value in found:
            if merged and start < merged[-1][1]:
                last_start, last_end, keys = merged[-1]
                merged[-1] = (last_start, max(last_end, end), keys + self._keys_of[value])
            else:
                merged.append((start, end, list(self._keys_of[value])))
        return merged

    def _mask(self, data: bytes, final: bool) -> bytes:
        if self._automaton is None:
            return data
        boundary = len(data) if final else len(data) - self._held_back(data)
        out: list[bytes] = []
        position = 0
        for start, end, keys in self._ranges(data):
            if start >= boundary:
                break
            if end > boundary and not final:
                # More data could still extend it (an overlapping value): decide next time.
                boundary = start
                break
            out.append(data[position:start])
            out.append(f"[stacksafe:{','.join(sorted(set(keys)))}]".encode())
            position = end
        end_of_output = max(boundary, position)
        out.append(data[position:end_of_output])
        self._pending = data[end_of_output:]
        return b"".join(out)

    def feed(self, chunk: bytes) -> bytes:
        """What can be written now of everything seen so far, masked."""
        return self._mask(self._pending + chunk, final=False)

    def flush(self) -> bytes:
        """The rest, at the end of the stream."""
        return self._mask(self._pending, final=True)
