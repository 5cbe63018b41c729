"""Social networks' and media APIs' credentials: Facebook, Instagram, Twitter/X, LinkedIn,
Twitch, Flickr, The New York Times.

Facebook's user and page access tokens start ``EAA``, Instagram's Graph tokens ``IGQVJ``, and
X's app-only bearer tokens with a long run of ``A``s; app secrets and API keys are opaque strings
known by the network's name before them.
"""

from __future__ import annotations

import dataclasses

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES"]

_FACEBOOK = ("facebook",)
_TWITTER = ("twitter",)
_LINKEDIN = ("linkedin", "linked_in", "linked-in")

RULES: tuple[Rule, ...] = (
    token(
        "facebook-access-token",
        "Facebook access token",
        ("eaa",),
        r"(?<![/+])EAA[A-Za-z0-9]{80,800}(?![/+])",
        min_entropy=3.5,
    ),
    # An app token (app id, "|", secret) is looked for on a line naming Facebook or the next.
    dataclasses.replace(
        token(
            "facebook-app-token",
            "Facebook app access token",
            _FACEBOOK,
            r"[0-9]{15,16}(?:\||%7[Cc])[A-Za-z0-9_-]{27,40}",
            min_entropy=3.0,
        ),
        lines=2,
    ),
    keyed("facebook-secret", "Facebook app secret", _FACEBOOK, r"[a-fA-F0-9]{32}", min_entropy=3.0),
    token(
        "instagram-access-token",
        "Instagram access token",
        ("igqvj",),
        r"(?<![/+])IGQVJ[A-Za-z0-9_=-]{100,2000}(?![/+])",
        min_entropy=4.0,
    ),
    token(
        "twitter-bearer-token",
        "Twitter/X bearer token",
        ("aaaaaaaaaaaaaaaaaaaa",),
        r"(?<![/+])A{20,24}[A-Za-z0-9%]{80,120}(?![/+])",
        min_entropy=3.5,
    ),
    keyed("twitter-api-key", "Twitter/X API key", _TWITTER, r"[A-Za-z0-9]{25}", min_entropy=3.0),
    keyed(
        "twitter-api-secret",
        "Twitter/X API secret",
        _TWITTER,
        r"[A-Za-z0-9]{50}",
        min_entropy=3.5,
    ),
    keyed(
        "twitter-access-token",
        "Twitter/X access token",
        _TWITTER,
        r"[0-9]{15,25}-[A-Za-z0-9]{20,40}",
        min_entropy=3.0,
    ),
    keyed(
        "twitter-access-secret",
        "Twitter/X access token secret",
        _TWITTER,
        r"[A-Za-z0-9]{45}",
        min_entropy=3.5,
    ),
    keyed(
        "linkedin-client-id",
        "LinkedIn client id",
        _LINKEDIN,
        r"[A-Za-z0-9]{14}",
        min_entropy=2.5,
    ),
    keyed(
        "linkedin-client-secret",
        "LinkedIn client secret",
        _LINKEDIN,
        r"[A-Za-z0-9]{16}",
        min_entropy=2.5,
    ),
    keyed("twitch-api-token", "Twitch API token", ("twitch",), r"[A-Za-z0-9]{30}", min_entropy=3.0),
    keyed(
        "flickr-access-token",
        "Flickr API key",
        ("flickr",),
        r"[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "nytimes-access-token",
        "New York Times API key",
        ("nytimes", "new-york-times", "newyorktimes"),
        r"[A-Za-z0-9=_-]{32}",
        min_entropy=3.0,
    ),
)
