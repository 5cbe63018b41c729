"""A stream cut into blocks: overlapping whole lines, long lines cut with their line number."""

from __future__ import annotations

import pytest

from stacksafe.scan.blocks import Block, LineBlocks


def feed_all(blocks: LineBlocks, *chunks: bytes) -> list[Block]:
    ready = [block for chunk in chunks for block in blocks.feed(chunk)]
    return ready + blocks.close()


def test_blocks_repeat_the_overlap_lines_and_keep_line_numbers() -> None:
    text = b"".join(b"%d\n" % n for n in range(1, 11))
    ready = feed_all(LineBlocks(block_lines=4, overlap=2, longest=100), *text.splitlines(True))
    assert [(b.first_line, b.data.split()) for b in ready] == [
        (1, [b"1", b"2", b"3", b"4"]),
        (3, [b"3", b"4", b"5", b"6"]),
        (5, [b"5", b"6", b"7", b"8"]),
        (7, [b"7", b"8", b"9", b"10"]),  # nothing new after it: no block of 9 and 10 alone
    ]


def test_a_last_line_without_its_newline_is_handed_on_once() -> None:
    ready = feed_all(LineBlocks(4, 1, 100), b"a\nb\nc\nd\n", b"tail")
    assert [(b.first_line, b.data) for b in ready] == [(1, b"a\nb\nc\nd\n"), (4, b"d\ntail")]
    assert feed_all(LineBlocks(4, 1, 100), b"a\nb\nc\nd\n") == [Block(1, 1, b"a\nb\nc\nd\n")]


def test_a_long_line_is_cut_keeping_its_line_number_and_columns() -> None:
    blocks = LineBlocks(100, 3, longest=10)
    ready = feed_all(blocks, b"one\n", b"x" * 12, "é".encode() * 6, b"yy\nnext\n")
    assert ready == [
        Block(1, 1, b"one\n" + b"x" * 12, cut=True),
        Block(2, 13, "é".encode() * 6, cut=True),  # 12 bytes: cut again, 6 code points on
        Block(2, 19, b"yy\nnext\n"),
    ]


def test_a_cut_line_carries_its_last_bytes_over_without_splitting_a_character() -> None:
    blocks = LineBlocks(100, 0, longest=10, carry=4)
    # "é" is 2 bytes: the last 4 of "abcdefgé" + "hi" start inside no character here...
    ready = feed_all(blocks, "abcdefgé".encode() + b"hij", b"\n")
    assert ready == [
        Block(1, 1, "abcdefgé".encode() + b"hij", cut=True),
        Block(1, 8, "é".encode() + b"hij\n"),
    ]
    # ...and here the last 4 start on a character: 4 are carried.
    ready = feed_all(LineBlocks(100, 0, longest=10, carry=4), "abcdefghé".encode() + b"ij", b"\n")
    assert ready[1] == Block(1, 9, "é".encode() + b"ij\n")


def test_the_overlap_must_be_shorter_than_a_block_and_the_carry_than_half_a_line() -> None:
    with pytest.raises(ValueError, match="overlap"):
        LineBlocks(4, 4, 100)
    with pytest.raises(ValueError, match="carried"):
        LineBlocks(4, 1, 100, carry=50)
