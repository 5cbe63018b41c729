"""Masking secret values in a stream of bytes (`stacksafe run --mask`).

Every occurrence of a value (its UTF-8 bytes) becomes ``[stacksafe:KEY]``, also when the
value arrives split across reads. The masker only ever holds back the shortest possible tail:
the longest end of what it has seen that could still grow into a value. Everything before that
goes out at once, so output is not delayed by a fixed window. Where two values could match at one
place, the longer one wins.

Values shorter than ``MIN_LENGTH`` bytes are not masked. Masking ``1`` or ``true`` would
mangle every line of output and hide nothing worth hiding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from stacksafe.model import SecretValue

__all__ = ["MIN_LENGTH", "Masker"]

MIN_LENGTH = 4


class Masker:
    def __init__(self, values: Mapping[str, SecretValue], min_length: int = MIN_LENGTH) -> None:
        replacements: dict[bytes, bytes] = {}
        for key in sorted(values):
            raw = values[key].reveal().encode("utf-8")
            if len(raw) >= min_length and raw not in replacements:
                replacements[raw] = f"[stacksafe:{key}]".encode()
        self._replacements = replacements
        ordered = sorted(replacements, key=len, reverse=True)  # longest first at one place
        self._pattern = re.compile(b"|".join(re.escape(v) for v in ordered)) if ordered else None
        # For each value, the lengths k of its proper prefixes by their last byte, longest
        # first: a tail of the buffer can only be a prefix of length k if it ends in that byte.
        self._prefix_ends: list[tuple[bytes, dict[int, list[int]]]] = []
        for value in ordered:
            ends: dict[int, list[int]] = {}
            for k in range(len(value) - 1, 0, -1):
                ends.setdefault(value[k - 1], []).append(k)
            self._prefix_ends.append((value, ends))
        self._pending = b""

    def __repr__(self) -> str:
        return f"Masker({len(self._replacements)} values)"

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

    def _mask(self, data: bytes, final: bool) -> bytes:
        if self._pattern is None:
            return data
        boundary = len(data) if final else len(data) - self._held_back(data)
        out: list[bytes] = []
        position = 0
        for match in self._pattern.finditer(data):
            if match.start() >= boundary:
                break
            out.append(data[position : match.start()])
            out.append(self._replacements[match.group()])
            position = match.end()
        end = max(boundary, position)
        out.append(data[position:end])
        self._pending = data[end:]
        return b"".join(out)

    def feed(self, chunk: bytes) -> bytes:
        """What can be written now of everything seen so far, masked."""
        return self._mask(self._pending + chunk, final=False)

    def flush(self) -> bytes:
        """The rest, at the end of the stream."""
        return self._mask(self._pending, final=True)
