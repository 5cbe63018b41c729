"""A service's value found after the service's name: ``HEROKU_API_KEY=...`` in any usual notation.

Many issuers' secrets have no prefix (32 hex characters, a UUID): their shape alone is too common
to report, but following a name that mentions the service (``herokuToken``, ``"datadog_api_key":``,
``<linearSecret>``) it is the service's secret. ``keyed`` builds such a rule for the notations
configuration and code use: ``=``, ``:``, ``:=``, ``::=``, ``?=``, ``.=``, ``=>``, a call's
``("NAME", "value")``, a typed declaration (``var fooToken string = "..."``) and an XML element
whose value sits on the next line.
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
# "api key"), the closing of a quoted key or an XML tag, then an operator and an opening quote.
_BETWEEN = (
    r"[\w.\-]{0,40}?(?:[ \t]{1,3}[\w.\-]{1,20}){0,2}?[\"'`\]>]?[ \t]{0,5}"
    r"(?::{1,3}=|=>|->|\?=|\.=|\+=|\|\|=|=|:|,|>)[ \t]{0,5}(?:\n[ \t]{0,12})?[\"'`]?"
)


def keyed(
    id: str,
    description: str,
    keywords: Sequence[str],
    value: str,
    *,
    name: str | None = None,
    min_entropy: float = 0.0,
    check: Callable[[str], bool] | None = None,
) -> Rule:
    """A ``value`` (a regex of the secret's shape) after a name holding one of ``keywords``
    (lower-case literals, matched in any case). ``name`` narrows what the name must say after
    the keyword (a regex, e.g. ``sonar[_.-]?(?:login|token)``); by default the keyword is enough.
    ``check`` defaults to ``drawn`` (a letter, a digit, no counting run): an unprefixed value
    must look random to be reported."""
    named = name if name is not None else "|".join(re.escape(k) for k in keywords)
    pattern = rf"(?i:{named}){_BETWEEN}(?P<secret>{value})(?![{_CONTINUES}])"
    return Rule(
        id=id,
        description=description,
        keywords=tuple(keywords),
        pattern=re.compile(pattern),
        min_entropy=min_entropy,
        check=check if check is not None else drawn,
        # An XML element's value may sit on the line after its opening tag.
        lines=2,
    )
