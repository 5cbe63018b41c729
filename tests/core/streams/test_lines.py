"""core.streams.lines and core.streams.verify: a streamed line carries every chained field and
a signature the public key alone checks; a receiver finds edits, gaps, reordering and
duplicates that differ, and de-duplicates identical repeats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import update

from stacksafe.core.audit import append, detail_text
from stacksafe.core.audit_chain import HASHED_FIELDS, canonical
from stacksafe.core.installation import Installation
from stacksafe.core.streams.lines import BrokenChain, LineEncoder, installation_verifier, signer
from stacksafe.core.streams.verify import verify_stream
from stacksafe.crypto.keyed_hash import AUDIT_STREAM, KeyedHash
from stacksafe.crypto.stream_signature import StreamSigner, StreamVerifier, signed_message
from stacksafe.store import audit as queries
from stacksafe.store.schema import audit_events
from tests.actors import LOCAL
from tests.core.streams.helpers import appended, stream_lines


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def test_a_line_holds_every_chained_field_and_verifies(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 3)
    # A shared (large) detail and a non-ASCII one stream and verify like the others.
    append(installation, LOCAL, "big", detail={"keys": {f"K{i}": i for i in range(200)}})
    append(installation, LOCAL, "accents", detail={"note": "café ✓", "nested": [1, 2.5, None]})
    lines = stream_lines(installation)
    first = json.loads(lines[0])
    assert set(first) == {*HASHED_FIELDS, "prev_hash", "hash", "sig"}
    assert isinstance(first["detail"], dict)  # an object for SIEMs, not a JSON string
    assert json.loads(lines[-1])["detail"] == {"note": "café ✓", "nested": [1, 2.5, None]}
    with installation.store.read() as conn:
        head = queries.read_head(conn)
    assert head is not None
    report = verify_stream(
        [_write(tmp_path / "s.jsonl", lines)], installation_verifier(installation)
    )
    assert report.clean, report.problems
    assert (report.events, report.first, report.newest) == (len(lines), 1, head[0])
    assert report.newest_hash == head[1].hex()


def test_the_public_key_alone_verifies_and_another_key_does_not(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 2)
    path = _write(tmp_path / "s.jsonl", stream_lines(installation))
    pem = signer(installation).public_pem()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert verify_stream([path], StreamVerifier.from_pem(pem.encode())).clean
    other = StreamSigner(KeyedHash(AUDIT_STREAM, 1, b"k" * 32)).verifier()
    report = verify_stream([path], other)
    assert not report.clean
    assert "event 1 was altered (its signature fails)" in report.problems[0]


def test_edits_gaps_reordering_and_differing_duplicates_are_reported(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 6)
    lines = stream_lines(installation)
    verifier = installation_verifier(installation)

    edited = json.loads(lines[2])
    edited["actor"] = "someone-else"
    report = verify_stream(
        [_write(tmp_path / "edit", [*lines[:2], orjson.dumps(edited), *lines[3:]])], verifier
    )
    assert any("event 3 was altered" in p for p in report.problems)

    report = verify_stream([_write(tmp_path / "gap", [*lines[:2], *lines[4:]])], verifier)
    assert report.problems == ["events 3 to 4 missing (a gap)"]
    assert report.newest == len(lines)

    swapped = [*lines[:2], lines[3], lines[2], *lines[4:]]
    report = verify_stream([_write(tmp_path / "swap", swapped)], verifier)
    assert any("event 3 comes after event 4 (reordered)" in p for p in report.problems)

    # The same event signed with other content (a log rewritten, then streamed again).
    rewritten = json.loads(lines[1])
    rewritten["action"] = "rewritten"
    forged = _signed_again(installation, rewritten)
    report = verify_stream([_write(tmp_path / "dup", [*lines, forged])], verifier)
    assert any("event 2 appears twice with different content" in p for p in report.problems)

    report = verify_stream([_write(tmp_path / "junk", [*lines, b"not json"])], verifier)
    assert any("is not an audit stream line (not JSON)" in p for p in report.problems)


def test_identical_repeats_and_rotated_files_in_any_order_are_clean(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 6)
    lines = stream_lines(installation)
    # At least once: lines 3-4 delivered twice (a crash before the cursor moved), the newer
    # half rotated into another file, given first.
    older = _write(tmp_path / "s.jsonl.1", lines[:4])
    newer = _write(tmp_path / "s.jsonl", [*lines[2:4], *lines[4:]])
    report = verify_stream([newer, older], installation_verifier(installation))
    assert report.clean, report.problems
    assert (report.events, report.repeats, report.newest) == (len(lines), 2, len(lines))


def test_an_event_edited_in_the_database_is_not_signed(installation: Installation) -> None:
    seqs = appended(installation, 3)
    with installation.store.write() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == seqs[1]).values(actor="x"))
    with pytest.raises(BrokenChain, match=f"event {seqs[1]} does not match the audit chain"):
        stream_lines(installation)


def _signed_again(installation: Installation, line: dict[str, Any]) -> bytes:
    """``line`` as the server would sign it had its log held this content (a rewritten log)."""
    fields = {name: line[name] for name in HASHED_FIELDS}
    fields["detail"] = detail_text(line["detail"])
    message = signed_message(
        canonical(fields), bytes.fromhex(line["prev_hash"]), bytes.fromhex(line["hash"])
    )
    line["sig"] = signer(installation).sign(message).hex()
    return orjson.dumps(line, option=orjson.OPT_SORT_KEYS)


def test_encoder_checks_the_link_to_the_event_before(installation: Installation) -> None:
    appended(installation, 2)
    with installation.store.read() as conn:
        events = list(queries.iter_events(conn))
    with pytest.raises(BrokenChain):
        LineEncoder.of(installation).encode(events[-1], b"\x01" * 32)


def _edited(installation: Installation, tmp_path: Path, edit: Any) -> list[str]:
    """The problems ``verify --stream`` finds once ``edit`` changed the middle line (parsed)."""
    appended(installation, 3)
    found = [orjson.loads(line) for line in stream_lines(installation)]
    edit(found[1])
    lines = [orjson.dumps(line, option=orjson.OPT_SORT_KEYS) for line in found]
    return verify_stream(
        [_write(tmp_path / "s.jsonl", lines)], installation_verifier(installation)
    ).problems


def test_an_edited_detail_beside_its_original_text_is_refused(
    installation: Installation, tmp_path: Path
) -> None:
    def forge(line: dict[str, Any]) -> None:
        assert "detail_text" not in line  # the encoder writes none for a canonical detail
        line["detail_text"] = detail_text(line["detail"])
        line["detail"] = {"n": 999, "note": "forged: the SIEM indexes this"}

    problems = _edited(installation, tmp_path, forge)
    assert any("detail does not match detail_text" in p for p in problems), problems


def test_a_detail_text_the_encoder_never_writes_is_refused(
    installation: Installation, tmp_path: Path
) -> None:
    def forge(line: dict[str, Any]) -> None:
        line["detail_text"] = detail_text(line["detail"])  # detail itself left as it was

    problems = _edited(installation, tmp_path, forge)
    assert any("detail_text repeats detail" in p for p in problems), problems


def test_a_detail_equal_only_to_pythons_eye_is_refused(
    installation: Installation, tmp_path: Path
) -> None:
    """{"n": 1} and {"n": true} are equal in Python; a SIEM indexes them differently."""
    append(installation, LOCAL, "odd", detail={"n": 1})
    found = orjson.loads(stream_lines(installation)[-1])
    found["detail_text"] = '{"n":1}'
    found["detail"] = {"n": True}
    path = _write(tmp_path / "s.jsonl", [orjson.dumps(found, option=orjson.OPT_SORT_KEYS)])
    problems = verify_stream([path], installation_verifier(installation)).problems
    assert any("detail does not match detail_text" in p for p in problems), problems


def test_an_unsigned_extra_key_is_refused(installation: Installation, tmp_path: Path) -> None:
    def forge(line: dict[str, Any]) -> None:
        line["user"] = {"name": "mallory"}
        line["event.outcome"] = "success"

    problems = _edited(installation, tmp_path, forge)
    assert any("unsigned keys ('event.outcome', 'user')" in p for p in problems), problems
