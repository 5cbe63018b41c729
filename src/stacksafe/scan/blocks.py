"""How a stream is cut for the pattern detector: blocks of whole lines that overlap.

A block is handed on once it holds ``block_lines`` lines; the next one starts ``overlap`` lines
earlier (the most lines a rule spans, less one), so a PEM block, or a name and its value on the
next line, is whole in one of them wherever the cut falls (findings of the repeated lines come
twice, identical, and the caller keeps one). A line longer than ``longest`` bytes is cut, so
memory stays bounded whatever the input: its pieces keep its line number, a piece's columns
count from the line's start, and the next piece repeats the last ``carry`` bytes of the one
before (cut between two characters), so a token that the cut splits is whole in the next piece;
a match that reaches a cut piece's end is the next piece's to report (``Block.cut``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Block", "LineBlocks"]


@dataclass(frozen=True, slots=True)
class Block:
    """Bytes of the stream from line ``first_line``, whose first byte is at ``first_column``
    (not 1 only for the rest of a line that was cut)."""

    first_line: int
    first_column: int
    data: bytes
    cut: bool = False  # it ends inside a line, which the next block goes on with


class LineBlocks:
    """``feed`` chunks as they arrive, then ``close``: each gives the blocks that are ready."""

    __slots__ = (
        "_block_lines",
        "_carry",
        "_first_column",
        "_first_line",
        "_fresh",
        "_lines",
        "_longest",
        "_overlap",
        "_partial",
        "_partial_column",
    )

    def __init__(self, block_lines: int, overlap: int, longest: int, carry: int = 0) -> None:
        if not 0 <= overlap < block_lines:
            raise ValueError("the overlap must be shorter than a block")
        if not 0 <= carry < longest // 2:
            raise ValueError("the bytes carried over a cut must be under half the longest line")
        self._block_lines, self._overlap, self._longest = block_lines, overlap, longest
        self._carry = carry
        self._lines: list[bytes] = []  # whole lines, each with its "\n"
        self._first_line = 1  # the number of _lines[0] (of the partial line if none)
        self._first_column = 1  # where _lines[0] (or the partial line) starts
        self._partial = b""  # the line being read, no "\n" seen yet
        self._partial_column = 1  # where the partial line's bytes start on their line
        self._fresh = False  # some lines held were never handed on

    def feed(self, chunk: bytes) -> list[Block]:
        ready: list[Block] = []
        pieces = (self._partial + chunk).split(b"\n")
        self._partial = pieces.pop()
        if pieces:
            if not self._lines:
                self._first_column = self._partial_column
            self._partial_column = 1
            self._lines.extend(piece + b"\n" for piece in pieces)
            self._fresh = True
        if len(self._lines) >= self._block_lines:
            ready.append(self._block(b""))
            kept = self._lines[len(self._lines) - self._overlap :] if self._overlap else []
            self._first_line += len(self._lines) - len(kept)
            self._first_column = 1
            self._lines, self._fresh = kept, False
        if len(self._partial) > self._longest:  # no line break in sight: cut here
            ready.append(self._block(self._partial, cut=True))
            split = _boundary(self._partial, len(self._partial) - self._carry)
            self._first_line += len(self._lines)
            self._partial_column += len(self._partial[:split].decode("utf-8", "surrogateescape"))
            self._first_column = self._partial_column
            self._lines, self._partial, self._fresh = [], self._partial[split:], False
        if self._partial:
            self._fresh = True
        return ready

    def close(self) -> list[Block]:
        """The last block (the lines not handed on, and a last line without its "\\n")."""
        if not self._fresh:
            return []
        block = self._block(self._partial)
        self._lines, self._partial, self._fresh = [], b"", False
        return [block]

    def _block(self, tail: bytes, cut: bool = False) -> Block:
        return Block(self._first_line, self._first_column, b"".join(self._lines) + tail, cut)


def _boundary(data: bytes, at: int) -> int:
    """``at``, moved back past UTF-8 continuation bytes: a character is never split, so the
    columns of the next piece count characters as a whole line's do."""
    if at >= len(data):
        return len(data)
    for back in range(at, max(at - 3, 0), -1):
        if not 0x80 <= data[back] <= 0xBF:
            return back
    return at
