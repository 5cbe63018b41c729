"""A service's value found after the service's name: ``HEROKU_API_KEY=...`` in any usual notation.

Many issuers' secrets have no prefix (32 hex characters, a UUID): their shape alone is too common
to report, but following a name that mentions the service (``herokuToken``, ``"datadog_api_key":``,
``<linearSecret>``) it is the service's secret. ``keyed`` builds such a rule for the notations
configuration and code use: ``=``, ``:``, ``:=``, ``::=``, ``?=``, ``.=``, ``=>``, a call's
``("NAME", "value")``, a typed declaration (``var fooToken string = "..."``) and an XML element
or a YAML key whose value sits on the next line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from stacksafe.scan.rules.checks import drawn
from stacksafe.scan.rules.model import Rule

__all__ = ["keyed"]

# Characters that continue a value: a match must not end inside a longer word.
_CONTINUES = r"A-Za-z0-9_\-"
# After the name: the rest of the identifier, at most two more words (a declaration's type,
# "api key"), the closing of a quoted key or an XML tag, then an operator (=, :, ->, =>, a
# compound assignment of Go, PHP, Ruby or make: :=, ::=, .=, ?=, ||=, +=; a call's comma; an
# XML tag's >) and an opening quote; the value may start the next line.
_BETWEEN = (
    r"[\w.\-]{0,40}?(?:[ \t]{1,3}[\w.\-]{1,20}){0,2}?[\"'`\]>]?[ \t]{0,5}"
    # The value may sit on the next line only after an XML element's ">" or a YAML key's ":",
    # never after a comma: the next item of a JSON array is no value of the name before it.
    r"(?:(?::{1,3}=|=>|->|\?=|\.=|\+=|\|\|=|=|,)[ \t]{0,5}|[:>][ \t]{0,5}(?:\n[ \t]{0,12})?)"
    r"[\"'`]?"
)


def keyed(
    id: str,
    description: str,
    keywords: Sequence[str],
    value: str,
    *,
    name: str | None = None,
    exact_case: bool = False,
    min_entropy: float = 0.0,
    check: Callable[[str], bool] | None = drawn,
    generic: bool = False,
) -> Rule:
    """A ``value`` (a regex of the secret's shape) after a name holding one of ``keywords``
    (literals, matched in any case, or as written if ``exact_case``: ``Etsy`` but not the
    ``etSy`` of ``SetSysctl``). ``name`` narrows what the name must say after the keyword (a
    regex, e.g. ``sonar[_.-]?(?:login|token)``); by default a keyword is enough. ``check``
    defaults to ``drawn`` (a letter, a digit, no counting run): an unprefixed value must look
    random to be reported; a value of digits only passes another check (or None).
    ``generic`` rules give way to a specific rule on the same text."""
    named = name if name is not None else "|".join(re.escape(k) for k in keywords)
    named = f"(?:{named})" if exact_case else f"(?i:{named})"
    pattern = rf"{named}{_BETWEEN}(?P<secret>{value})(?![{_CONTINUES}])"
    return Rule(
        id=id,
        description=description,
        keywords=tuple(dict.fromkeys(k.lower() for k in keywords)),
        pattern=re.compile(pattern),
        min_entropy=min_entropy,
        check=check,
        # An XML element's or a YAML key's value may sit on the line after the name.
        lines=2,
        generic=generic,
    )
