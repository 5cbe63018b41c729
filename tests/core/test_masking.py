"""The masker: values split across chunks, overlapping values, binary data, and no delay beyond
what a value could still become."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stacksafe.core.masking import Masker
from stacksafe.model import SecretValue


def masker(**plain: str) -> Masker:
    return Masker({k: SecretValue(v) for k, v in plain.items()})


def streamed(m: Masker, chunks: list[bytes]) -> bytes:
    return b"".join(m.feed(c) for c in chunks) + m.flush()


def test_a_value_is_replaced_by_its_key() -> None:
    m = masker(DB_PASSWORD="hunter22", TOKEN="tok-123456")
    out = streamed(m, [b"login hunter22 with tok-123456\n"])
    assert out == b"login [stacksafe:DB_PASSWORD] with [stacksafe:TOKEN]\n"


def test_a_value_split_across_every_possible_pair_of_writes() -> None:
    line = b"pw=hunter22;"
    for cut in range(len(line) + 1):
        m = masker(PW="hunter22")
        assert streamed(m, [line[:cut], line[cut:]]) == b"pw=[stacksafe:PW];"


def test_a_value_split_byte_by_byte() -> None:
    m = masker(PW="correct horse battery staple")
    text = b"> correct horse battery staple <"
    assert streamed(m, [bytes([b]) for b in text]) == b"> [stacksafe:PW] <"


def test_only_a_possible_beginning_of_a_value_is_held_back() -> None:
    m = masker(PW="hunter22")
    assert m.feed(b"ready and waiting\n") == b"ready and waiting\n"  # nothing to hold back
    assert m.feed(b"prompt: hun") == b"prompt: "  # could become the value
    assert m.feed(b"gry\n") == b"hungry\n"  # it did not


def test_a_value_that_begins_another_is_masked_with_it_even_when_split() -> None:
    m = masker(SHORT="abcd", LONG="abcdefgh")
    assert streamed(m, [b"abcd", b"efgh abcd!"]) == b"[stacksafe:LONG,SHORT] [stacksafe:SHORT]!"


def test_binary_output_and_non_ascii_values() -> None:
    m = masker(PW="pässwört", BIN="\x00\x01secret\xff")
    data = b"\x89PNG\r\n\x1a\n" + "pässwört".encode() + b"\xfe\xff" + "\x00\x01secret\xff".encode()
    out = streamed(m, [data[:10], data[10:13], data[13:]])
    assert out == b"\x89PNG\r\n\x1a\n[stacksafe:PW]\xfe\xff[stacksafe:BIN]"


def test_short_values_are_not_masked_and_no_values_pass_through() -> None:
    assert streamed(masker(FLAG="1", ON="yes"), [b"1 yes 11"]) == b"1 yes 11"
    assert streamed(Masker({}), [b"a", b"b"]) == b"ab"
    assert "hunter22" not in repr(masker(PW="hunter22"))


VALUES = st.dictionaries(
    st.from_regex(r"[A-Z]{1,6}", fullmatch=True),
    st.text(alphabet="abc\n\x00é", min_size=4, max_size=9),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(VALUES, st.lists(st.text(alphabet="abc\n\x00é ", max_size=12), max_size=8), st.data())
def test_any_chunking_gives_the_same_output_as_one_pass(
    plain: dict[str, str], pieces: list[str], data: st.DataObject
) -> None:
    values = list(plain.values())

    def maybe_a_value() -> str:
        # bool(values): draws a boolean only when there is a value to insert
        if bool(values) and data.draw(st.booleans()):
            return data.draw(st.sampled_from(values))
        return ""

    text = "".join(p + maybe_a_value() for p in pieces).encode()
    whole = streamed(masker(**plain), [text])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert streamed(masker(**plain), chunks) == whole
    for value in values:
        assert value.encode() not in whole.replace(b"[stacksafe:", b"\x01")


def test_overlapping_values_are_masked_as_one_range_naming_both() -> None:
    m = masker(A="abcd1234", B="1234efghijkl")
    assert streamed(m, [b"<abcd1234efghijkl>"]) == b"<[stacksafe:A,B]>"
    m = masker(A="abcd1234", B="1234efghijkl")
    chunks = [b"<abcd12", b"34ef", b"ghijkl>"]
    assert streamed(m, chunks) == b"<[stacksafe:A,B]>"


def test_a_value_inside_another_is_masked_with_it() -> None:
    m = masker(OUTER="xxsecretxx", INNER="secret")
    assert (
        streamed(m, [b"xxsecretxx and secret"]) == b"[stacksafe:INNER,OUTER] and [stacksafe:INNER]"
    )
