"""A baseline: findings accepted once (test fixtures, examples), by keyed fingerprint only.

The file holds a random 256-bit key and, per accepted finding, its rule, its path and
HMAC-SHA256(key, rule || path || matched text). It never holds the text. Unlike
detect-secrets' unsalted SHA-1, a fingerprint cannot be looked up in a table computed in
advance, the same text in two files or in two baselines gives unrelated fingerprints, and
without the file's key a guess cannot be checked at all. Whoever holds the file holds its key
and can test a guess for a given rule and path at the cost of one HMAC; a committed baseline
is meant to describe text that is in the repository anyway, so this adds nothing to what the
repository shows (docs/scanning.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stacksafe.errors import InvalidInput
from stacksafe.scan.findings import Finding

__all__ = ["FORMAT", "KEY_BYTES", "Baseline", "BaselineEntry"]

FORMAT = "stacksafe-scan-baseline"
VERSION = 1
KEY_BYTES = 32


@dataclass(frozen=True, slots=True, order=True)
class BaselineEntry:
    """One accepted finding: where (rule and path, for review) and its fingerprint."""

    path: str
    rule: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Baseline:
    """The key fingerprints are computed with, and the accepted fingerprints."""

    key: bytes
    entries: tuple[BaselineEntry, ...] = ()

    def __repr__(self) -> str:
        return f"<Baseline: {len(self.entries)} accepted findings>"

    @classmethod
    def new(cls) -> Baseline:
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def load(cls, path: Path) -> Baseline:
        try:
            data = json.loads(path.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read baseline {path}: {exc.strerror}") from None
        except ValueError:
            raise InvalidInput(f"baseline {path} is not JSON") from None
        try:
            if data["format"] != FORMAT or data["version"] != VERSION:
                raise ValueError
            key = base64.b64decode(data["key"], validate=True)
            entries = tuple(
                BaselineEntry(str(e["path"]), str(e["rule"]), str(e["fingerprint"]))
                for e in data["accepted"]
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise InvalidInput(
                f"baseline {path} is not a {FORMAT} file of version {VERSION}; "
                "write a new one with --update-baseline"
            ) from None
        if len(key) != KEY_BYTES:
            raise InvalidInput(f"baseline {path} has a key of {len(key)} bytes, not {KEY_BYTES}")
        return cls(key, entries)

    @classmethod
    def load_or_new(cls, path: Path) -> Baseline:
        """The baseline at ``path``, or a new one with a fresh key if there is no file."""
        return cls.load(path) if path.exists() else cls.new()

    def split(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[Finding]]:
        """(new findings, accepted findings)."""
        accepted_prints = {e.fingerprint for e in self.entries}
        new: list[Finding] = []
        accepted: list[Finding] = []
        for finding in findings:
            (accepted if finding.fingerprint in accepted_prints else new).append(finding)
        return new, accepted

    def accepting(self, findings: Sequence[Finding]) -> Baseline:
        """A baseline with this key that accepts exactly ``findings``."""
        entries = {BaselineEntry(f.path, f.rule, f.fingerprint) for f in findings}
        return Baseline(self.key, tuple(sorted(entries)))

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "key": base64.b64encode(self.key).decode(),
            "accepted": [
                {"path": e.path, "rule": e.rule, "fingerprint": e.fingerprint} for e in self.entries
            ],
        }

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file in the same directory, renamed over ``path``)."""
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        directory = path.parent if str(path.parent) else Path(".")
        try:
            fd, temporary = tempfile.mkstemp(prefix=".baseline-", dir=directory)
        except OSError as exc:
            raise InvalidInput(f"cannot write baseline {path}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
