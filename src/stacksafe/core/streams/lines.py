"""The streamed line of an audit event: every field the chain hashes, its previous hash and
hash, and an Ed25519 signature a receiver checks with the installation's public key.

One JSON object per event, keys sorted, no newline inside (the file sink adds one): ``detail``
is the event's detail as a JSON object (what a SIEM indexes). The chain hashed the detail's
stored *text*; the text is ``orjson.dumps(detail, OPT_SORT_KEYS)`` of that object, which a
verifier makes again; an event whose stored text is not that (none written by this version) also
carries it as ``detail_text``, which then is what is verified. The signature covers
``crypto.stream_signature.signed_message(canonical event, prev_hash, hash)``, so any edit of a
hashed field, of either hash or of the order of events (each line names its predecessor's hash)
shows. Events hold no values (core.audit), so neither do lines.

Before signing, the server checks each event against the chain (its keyed hash, and its link to
the event before): a row edited in the database is refused, not signed and streamed as genuine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from stacksafe.core.audit import detail_text
from stacksafe.core.audit_chain import HASHED_FIELDS, canonical, hashed_fields
from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import AUDIT_CHAIN, AUDIT_STREAM, keyed_hash
from stacksafe.crypto.keyed_hash import KeyedHash
from stacksafe.crypto.stream_signature import StreamSigner, StreamVerifier, signed_message
from stacksafe.store.audit import StoredEvent

__all__ = [
    "BrokenChain",
    "LineEncoder",
    "ParsedLine",
    "installation_verifier",
    "parse_line",
    "signer",
]


class BrokenChain(Exception):
    """An event read for streaming does not match the chain: nothing from it on is streamed
    (``audit verify`` names the damage)."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.message = (
            f"event {seq} does not match the audit chain: streaming stopped before it "
            "(run `stacksafe audit verify`)"
        )
        super().__init__(self.message)


def signer(installation: Installation) -> StreamSigner:
    return StreamSigner(keyed_hash(installation, AUDIT_STREAM))


def installation_verifier(installation: Installation) -> StreamVerifier:
    return signer(installation).verifier()


class LineEncoder:
    """Encodes events in sequence order, checking each against the chain first."""

    def __init__(self, chain: KeyedHash, signing: StreamSigner) -> None:
        self._chain, self._signer = chain, signing

    @classmethod
    def of(cls, installation: Installation) -> LineEncoder:
        return cls(keyed_hash(installation, AUDIT_CHAIN), signer(installation))

    def checked(
        self, event: StoredEvent, previous: bytes | None
    ) -> tuple[dict[str, Any], bytes, str]:
        """(the hashed fields, their canonical encoding, the detail's text) of ``event`` once
        it is checked against the chain (``previous``: the hash of the event before it, when
        known); ``BrokenChain`` if it is not the chain's (a row edited in the database)."""
        text = event.detail
        if text is None or (previous is not None and event.prev_hash != previous):
            raise BrokenChain(event.seq)
        fields = hashed_fields(event.seq, event.fields["at"], event.fields)
        encoded = canonical(fields)
        if not self._chain.matches(event.hash, event.prev_hash, encoded):
            raise BrokenChain(event.seq)
        return fields, encoded, text

    def encode(self, event: StoredEvent, previous: bytes | None) -> bytes:
        """``event``'s line; ``previous``: the hash of the event before it when known (the
        link is checked then). ``BrokenChain`` if the event is not the chain's."""
        fields, encoded, text = self.checked(event, previous)
        line: dict[str, Any] = {name: fields[name] for name in HASHED_FIELDS}
        parsed = _object(text)
        line["detail"] = parsed
        if parsed is None or detail_text(parsed) != text:
            line["detail_text"] = text
        line["prev_hash"] = event.prev_hash.hex()
        line["hash"] = event.hash.hex()
        line["sig"] = self._signer.sign(signed_message(encoded, event.prev_hash, event.hash)).hex()
        return orjson.dumps(line, option=orjson.OPT_SORT_KEYS)


def _object(text: str) -> dict[str, Any] | None:
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """A stream line read back: what the chain links and what the signature covers."""

    seq: int
    prev_hash: bytes
    hash: bytes
    signature: bytes
    message: bytes  # what the signature must cover

    def signed_by(self, verifier: StreamVerifier) -> bool:
        return verifier.verify(self.signature, self.message)


_TEXT_FIELDS = tuple(n for n in HASHED_FIELDS if n not in ("seq", "detail"))
# Every key a line may hold: what the signature covers, and the keys that carry it. Anything
# else is unsigned content a SIEM would index as if it were the server's.
_LINE_KEYS = frozenset(HASHED_FIELDS) | {"detail_text", "prev_hash", "hash", "sig"}


def parse_line(raw: bytes) -> ParsedLine:
    """``ValueError`` naming what is wrong when ``raw`` is not a stream line."""
    try:
        found = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(found, dict):
        raise ValueError("not a JSON object")
    return _parsed(found)


def _signed_detail(found: Mapping[str, Any]) -> str:
    """The detail text the signature covers, once the line's ``detail`` (what a SIEM indexes)
    is shown to be that text: with ``detail_text``, its parse (the signature covers only the
    text, so an edited ``detail`` beside the original text would otherwise verify); and a
    ``detail_text`` the encoder never writes (the canonical text of ``detail``) is refused."""
    detail = found.get("detail")
    if "detail_text" not in found:
        if not isinstance(detail, dict):
            raise ValueError("detail is not a JSON object")
        return detail_text(detail)
    text = found["detail_text"]
    if not isinstance(text, str):
        raise ValueError("detail_text is not text")
    parsed = _object(text)
    if parsed is None:
        if detail is not None:
            raise ValueError("detail does not match detail_text")
        return text
    # Compared as canonical text: Python's == takes 1, 1.0 and true for one another.
    if not isinstance(detail, dict) or detail_text(detail) != detail_text(parsed):
        raise ValueError("detail does not match detail_text")
    if detail_text(parsed) == text:
        raise ValueError("detail_text repeats detail (never written so)")
    return text


def _parsed(found: Mapping[str, Any]) -> ParsedLine:
    unsigned = sorted(key for key in found if key not in _LINE_KEYS)
    if unsigned:
        listed = ", ".join(repr(key[:40]) for key in unsigned[:3])
        raise ValueError(f"unsigned keys ({listed})")
    seq = found.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError("no sequence number")
    fields: dict[str, Any] = {"seq": seq}
    for name in _TEXT_FIELDS:
        value = found.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} is not text")
        fields[name] = value
    if not isinstance(fields["at"], str) or not isinstance(fields["action"], str):
        raise ValueError("no time or action")
    fields["detail"] = _signed_detail(found)
    try:
        prev_hash = bytes.fromhex(str(found.get("prev_hash")))
        hash_ = bytes.fromhex(str(found.get("hash")))
        signature = bytes.fromhex(str(found.get("sig")))
    except ValueError:
        raise ValueError("prev_hash, hash or sig is not hex") from None
    if len(prev_hash) != 32 or len(hash_) != 32 or len(signature) != 64:
        raise ValueError("prev_hash, hash or sig has the wrong length")
    return ParsedLine(
        seq, prev_hash, hash_, signature, signed_message(canonical(fields), prev_hash, hash_)
    )
