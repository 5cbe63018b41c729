"""The known-value detector: every planted value found, where it is, once, and nothing else."""

from __future__ import annotations

import io
import pickle
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacksafe.model import SecretValue
from stacksafe.scan.findings import KNOWN_VALUE, Finding, Location
from stacksafe.scan.known import CHUNK_SIZE, MIN_VALUE_LENGTH, KnownValues

KEY = b"k" * 32
DB = Location("acme", None, "DB_PASSWORD")
API = Location("acme", "web", "API_KEY")
COPY = Location("acme", "worker", "DB_PASS_COPY")


def known(*pairs: tuple[Location, str], min_length: int = MIN_VALUE_LENGTH) -> KnownValues:
    return KnownValues([(loc, SecretValue(v)) for loc, v in pairs], min_length=min_length)


def places(found: list[Finding]) -> list[tuple[int, int | None, tuple[Location, ...]]]:
    return [(f.line, f.column, f.locations) for f in found]


def test_finds_each_value_with_line_column_and_keys() -> None:
    values = known((DB, "Sup3r-s3cret-pw"), (API, "api-0123456789"))
    text = b"first line\nurl = postgres://u:Sup3r-s3cret-pw@db\n\nkey: api-0123456789\n"
    found = values.scan_bytes(text, "app.env", KEY)
    assert places(found) == [(2, 20, (DB,)), (4, 6, (API,))]
    assert {f.rule for f in found} == {KNOWN_VALUE}
    assert {f.path for f in found} == {"app.env"}


def test_one_value_under_several_keys_is_one_finding_naming_them_all() -> None:
    values = known((DB, "Sup3r-s3cret-pw"), (COPY, "Sup3r-s3cret-pw"))
    assert values.count == 1
    found = values.scan_bytes(b"pw=Sup3r-s3cret-pw\n", "f", KEY)
    assert places(found) == [(1, 4, (DB, COPY))]
    assert "DB_PASSWORD (account acme)" in found[0].message()
    assert "DB_PASS_COPY (stack worker of account acme)" in found[0].message()


def test_every_occurrence_is_reported_including_nested_values() -> None:
    values = known((DB, "abcdefgh"), (API, "abcdefghij"))
    found = values.scan_bytes(b"abcdefghij abcdefgh", "f", KEY)
    assert sorted((f.column, f.locations[0].key) for f in found) == [
        (1, "API_KEY"),
        (1, "DB_PASSWORD"),
        (12, "DB_PASSWORD"),
    ]


def test_short_and_blank_values_are_skipped_and_named() -> None:
    short = Location("acme", None, "PORT")
    blank = Location("acme", None, "BLANK")
    values = known((short, "8080"), (blank, "          "), (DB, "Sup3r-s3cret-pw"))
    assert values.count == 1
    assert values.skipped == (blank, short)
    assert values.scan_bytes(b"port 8080 and          spaces", "f", KEY) == []


def test_min_length_is_configurable() -> None:
    values = known((DB, "8080"), min_length=4)
    assert places(values.scan_bytes(b":8080", "f", KEY)) == [(1, 2, (DB,))]


def test_columns_count_characters_not_bytes() -> None:
    values = known((DB, "Sup3r-s3cret-pw"))
    found = values.scan_bytes("é€😀 Sup3r-s3cret-pw\n".encode(), "f", KEY)
    assert places(found) == [(1, 5, (DB,))]


def test_non_ascii_and_multiline_values() -> None:
    pem = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34\n-----END KEY-----"
    values = known((DB, "pässwörd-ünïcode"), (API, pem))
    text = f"a\nx = pässwörd-ünïcode\n{pem}\n".encode()
    assert places(values.scan_bytes(text, "f", KEY)) == [(2, 5, (DB,)), (3, 1, (API,))]


def test_binary_input_is_scanned_as_bytes() -> None:
    values = known((DB, "Sup3r-s3cret-pw"))
    blob = bytes(range(256)) * 3 + b"\x00Sup3r-s3cret-pw\xff\xfe"
    found = values.scan_bytes(blob, "image.bin", KEY)
    assert len(found) == 1


def test_first_line_and_commit_are_carried() -> None:
    values = known((DB, "Sup3r-s3cret-pw"))
    found = values.scan_bytes(b"Sup3r-s3cret-pw", "f", KEY, commit="abc", first_line=41)
    assert (found[0].line, found[0].commit) == (41, "abc")


def test_no_values_finds_nothing() -> None:
    assert known().scan_bytes(b"anything at all", "f", KEY) == []


def test_a_value_split_across_chunk_boundaries_is_found_once() -> None:
    value = "split-across-chunks-0123456789"
    values = known((DB, value))
    text = b"x" * (CHUNK_SIZE - 10) + value.encode() + b"\n" + b"y" * 100
    stream = io.BytesIO(text)
    found = list(values.scan_stream(stream, "stdin", KEY))
    assert places(found) == [(1, CHUNK_SIZE - 9, (DB,))]


def test_a_value_inside_the_kept_overlap_is_not_reported_twice() -> None:
    values = known((DB, "0123456789abcdef"), (API, "ab"), min_length=2)
    matcher = values.matcher("f", KEY)
    first = matcher.feed(b"....ab")  # "ab" lies in the tail kept for the next chunk
    second = matcher.feed(b"0123456789abcdef")
    assert places(first) == [(1, 5, (API,))]
    assert places(second) == [(1, 7, (DB,)), (1, 17, (API,))]


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_findings_do_not_depend_on_how_the_input_is_chunked(cuts: list[int], seed: int) -> None:
    rnd = random.Random(seed)
    secrets = [(Location("a", None, f"K{i}"), f"val-{i}-{rnd.random():.12f}") for i in range(4)]
    values = known(*secrets)
    parts = []
    for _ in range(20):
        parts.append("".join(rnd.choices("ab \n€", k=rnd.randint(0, 15))))
        parts.append(rnd.choice(secrets)[1])
    text = "".join(parts).encode()
    whole = values.scan_bytes(text, "f", KEY)
    matcher = values.matcher("f", KEY)
    pieces = []
    start = 0
    for cut in sorted({min(c, len(text)) for c in cuts}):
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    chunked = [f for piece in pieces for f in matcher.feed(piece)]
    assert places(chunked) == places(whole)
    assert len(whole) == 20


def test_planted_corpus_every_value_found_and_no_false_positive() -> None:
    rnd = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    managed = {
        Location("acme", rnd.choice([None, "web", "api"]), f"KEY_{i}"): "".join(
            rnd.choices(alphabet, k=rnd.randint(12, 48))
        )
        for i in range(500)
    }
    values = known(*managed.items())
    planted = rnd.sample(sorted(managed, key=Location.sort_key), 120)
    lines = []
    expected = set()
    for number in range(1, 5001):
        words = " ".join("".join(rnd.choices(alphabet, k=rnd.randint(1, 11))) for _ in range(8))
        if planted and number % 41 == 0:
            location = planted.pop()
            words += f' secret="{managed[location]}"'
            expected.add((number, location))
        lines.append(words)
    found = values.scan_bytes("\n".join(lines).encode(), "corpus.txt", KEY)
    assert {(f.line, f.locations[0]) for f in found} == expected
    assert len(found) == len(expected) == 120


def test_nothing_holds_the_plaintext() -> None:
    value = "Sup3r-s3cret-pw"
    values = known((DB, value))
    found = values.scan_bytes(f"x {value}".encode(), "f", KEY)
    assert value not in repr(values)
    assert value not in repr(values.matcher("f", KEY))
    assert value not in repr(found)
    assert value not in str(found[0].to_json())
    assert value.encode().hex() not in repr(found)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(values)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(values.matcher("f", KEY))


def test_fingerprint_is_keyed_and_per_path() -> None:
    values = known((DB, "Sup3r-s3cret-pw"))
    a = values.scan_bytes(b"Sup3r-s3cret-pw", "a.txt", KEY)[0].fingerprint
    again = values.scan_bytes(b"..Sup3r-s3cret-pw", "a.txt", KEY)[0].fingerprint
    b = values.scan_bytes(b"Sup3r-s3cret-pw", "b.txt", KEY)[0].fingerprint
    other_key = values.scan_bytes(b"Sup3r-s3cret-pw", "a.txt", b"o" * 32)[0].fingerprint
    assert a == again
    assert len({a, b, other_key}) == 3
