"""Page bounds: how every list is paged, defined once for the API, the web UI and the SDK.

Pages count from 1 (``page``), ``per_page`` items each (Cloud66's query parameters); the
bounds keep the offset a list query computes from them small.
"""

from __future__ import annotations

from stacksafe.errors import InvalidInput

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "ROTATION_PER_PAGE",
    "WEB_PER_PAGE",
    "WEB_SECRETS_PER_PAGE",
    "check_page",
    "offset_of",
]

MAX_PAGE = 1_000_000
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 30  # Cloud66's
ROTATION_PER_PAGE = 100  # the rotation status report's, one line per secret
WEB_PER_PAGE = 50  # the web UI's audit log
WEB_SECRETS_PER_PAGE = 100  # the web UI's secrets of a level: a page stays small at any size


def check_page(page: int, per_page: int) -> None:
    """``InvalidInput`` unless ``page`` and ``per_page`` are within the bounds."""
    if page < 1:
        raise InvalidInput("page starts at 1")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}")


def offset_of(page: int, per_page: int) -> int:
    """Items before ``page``."""
    return (page - 1) * per_page
