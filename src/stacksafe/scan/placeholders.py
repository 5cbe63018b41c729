"""Values that stand in for a secret rather than being one: templates, examples, masks.

Most false positives of keyword and entropy rules are such values (``your_api_key_here``,
``${DB_PASSWORD}``, ``<token>``, ``xxxxxxxx``, ``changeme``); a finding on one only teaches
people to ignore the scanner. The test is on the candidate secret alone, never on the line.
"""

from __future__ import annotations

import re

__all__ = ["is_placeholder"]

# Words that mark a stand-in, matched anywhere in the value without regard to case; and
# well-formed templates (``${VAR}``, ``{{ var }}``, ``%(var)s``, ``$(cmd)``, ``<token>``,
# ``{name}``).
_WORDS = re.compile(
    r"example|placeholder|fake|changeme|change_me|change-me|replace_?me|replace[_\-]?with|"
    r"your[_\-]?(?:api|secret|key|token|pass|own|access|client|app|private)|"
    r"insert[_\-]?(?:your|key|token|here)|dummy|sample|redacted|password|"
    r"<[^<>]*>|\$\{[\w.:\-?|/ +*]*\}|\{\{[^{}]*\}\}|%\(\w+\)[sd]|\$\([^()]*\)|"
    r"\*{3}|x{5}|X{5}|#{4}|\.{3}|_here\b|^none$|^null$|^true$|^false$|^undefined$|"
    # a whole value that is a format field: Python's "{api_key}", "{values[i]}"
    r"^\{[\w.\[\]]*\}$",
    re.IGNORECASE,
)
# Runs that no generator produces: a counting sequence, or the alphabet in order.
_SEQUENCES = ("0123456789", "123456789", "abcdef", "qwertyuiop")


def is_placeholder(value: str) -> bool:
    """Whether ``value`` is a template, example or mask rather than a credential."""
    if _WORDS.search(value):
        return True
    lowered = value.lower()
    if any(s in lowered for s in _SEQUENCES):
        return True
    # One or two distinct characters (``aaaaaaaa``, ``00000000``, ``abababab``).
    return len(value) >= 4 and len(set(value)) <= 2
