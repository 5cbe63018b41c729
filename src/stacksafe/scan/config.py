"""A repository's scan settings: ``.stacksafe-scan.toml``, rules left off and paths left out.

::

    # .stacksafe-scan.toml, at the root of the repository (or --config FILE)
    disable = ["generic-password"]       # rule ids (stacksafe scan --list-rules)
    exclude = ["tests/fixtures/**"]      # globs, as --exclude

Anything else in the file is refused with the name of what is wrong, so a typo cannot silently
switch nothing off (or everything on).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from stacksafe.errors import InvalidInput

__all__ = ["DEFAULT_NAME", "ScanConfig"]

DEFAULT_NAME = ".stacksafe-scan.toml"
_KEYS = ("disable", "exclude")
# What an error may quote of a name it refuses: words like a rule id's (``private-key``, a typo
# of one). Anything else may be a secret pasted in the wrong place, and an error is printed.
_WORDS = re.compile(r"[a-z0-9]{1,16}(?:[\-_][a-z0-9]{1,16}){0,5}")


def _shown(name: str, quote: bool = False) -> str:
    words = re.split(r"[\-_]", name)
    if not _WORDS.fullmatch(name) or any(w.isdigit() and len(w) > 4 for w in words):
        return "(not shown: it is not shaped like a name)"
    return repr(name) if quote else name


def _strings(path: Path, data: dict[str, object], name: str) -> tuple[str, ...]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{path}: {name} must be a list of non-empty strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class ScanConfig:
    """Rule ids not to run, and globs of paths to leave out."""

    disable: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path, rule_ids: Callable[[], Iterable[str]]) -> ScanConfig:
        """Reads ``path``; a ``disable`` entry must be one of ``rule_ids()`` (asked only then:
        the catalogue compiles its rules on import, which a scan that hands its work to worker
        processes need not do)."""
        try:
            # utf-8-sig: Windows editors save a byte order mark, which TOML does not expect.
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise InvalidInput(f"cannot read scan settings {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InvalidInput(f"scan settings {path} are not UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            # The decoder's message names a line and column, never the text there.
            raise InvalidInput(f"scan settings {path} are not TOML: {exc}") from None
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            keys = ", ".join(_KEYS)
            raise InvalidInput(
                f"{path}: unknown setting {_shown(unknown[0], quote=True)} (known: {keys})"
            )
        disable = _strings(path, data, "disable")
        known = set(rule_ids()) if disable else set()
        strangers = [r for r in disable if r not in known]
        if strangers:
            raise InvalidInput(
                f"{path}: disable names no rule: {', '.join(map(_shown, strangers))} "
                "(stacksafe scan --list-rules shows them)"
            )
        return cls(disable=disable, exclude=_strings(path, data, "exclude"))

    @classmethod
    def find(
        cls, given: Path | None, root: Path, rule_ids: Callable[[], Iterable[str]]
    ) -> ScanConfig:
        """``given`` (it must exist), else ``root/.stacksafe-scan.toml`` if there is one."""
        if given is not None:
            return cls.load(given, rule_ids)
        default = root / DEFAULT_NAME
        return cls.load(default, rule_ids) if default.is_file() else cls()
