"""A repository's scan settings: ``.stacksafe-scan.toml``, rules left off and paths left out.

::

    # .stacksafe-scan.toml, at the root of the repository (or --config FILE)
    disable = ["generic-password"]       # rule ids (stacksafe scan --list-rules)
    exclude = ["tests/fixtures/**"]      # globs, as --exclude

Anything else in the file is refused with the name of what is wrong, so a typo cannot silently
switch nothing off (or everything on).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stacksafe.errors import InvalidInput

__all__ = ["DEFAULT_NAME", "ScanConfig"]

DEFAULT_NAME = ".stacksafe-scan.toml"
_KEYS = ("disable", "exclude")


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
    def load(cls, path: Path, rule_ids: Sequence[str]) -> ScanConfig:
        """Reads ``path``; a ``disable`` entry must be one of ``rule_ids``."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInput(f"cannot read scan settings {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InvalidInput(f"scan settings {path} are not UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            # The decoder's message names a line and column, never the text there.
            raise InvalidInput(f"scan settings {path} are not TOML: {exc}") from None
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise InvalidInput(
                f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(_KEYS)})"
            )
        disable = _strings(path, data, "disable")
        known = set(rule_ids)
        strangers = [r for r in disable if r not in known]
        if strangers:
            raise InvalidInput(
                f"{path}: disable names no rule: {', '.join(strangers)} "
                "(stacksafe scan --list-rules shows them)"
            )
        return cls(disable=disable, exclude=_strings(path, data, "exclude"))

    @classmethod
    def find(cls, given: Path | None, root: Path, rule_ids: Sequence[str]) -> ScanConfig:
        """``given`` (it must exist), else ``root/.stacksafe-scan.toml`` if there is one."""
        if given is not None:
            return cls.load(given, rule_ids)
        default = root / DEFAULT_NAME
        return cls.load(default, rule_ids) if default.is_file() else cls()
