"""Productivity, content and business SaaS credentials: Dropbox, Asana, Airtable, Trello,
Typeform, Figma, HubSpot, Contentful, FreshBooks, Adobe, Beamer, Frame.io, ReadMe, Salesforce,
Algolia, Mapbox.

Prefixed tokens are found anywhere (``figd_``, ``tfp_``, ``pat-na1-``, ``CFPAT-``, ``fio-u-``,
``rdme_``, ``p8e-``, Dropbox's ``sl.``); the others are known by the service's name before them.
"""

from __future__ import annotations

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import UUID, Rule, token

__all__ = ["RULES"]

_DROPBOX = ("dropbox",)
_ASANA = ("asana",)
_AIRTABLE = ("airtable",)
_MAPBOX = ("mapbox",)

RULES: tuple[Rule, ...] = (
    token(
        "dropbox-short-lived-api-token",
        "Dropbox short-lived access token",
        ("sl.",),
        r"sl\.(?:u\.)?[A-Za-z0-9_=-]{77,200}",
        min_entropy=4.0,
    ),
    # A long-lived token: 11 characters, ten "A"s, then 43 more.
    token(
        "dropbox-long-lived-api-token",
        "Dropbox long-lived access token",
        ("aaaaaaaaaa",),
        r"(?<![/+])[A-Za-z0-9]{11}AAAAAAAAAA[A-Za-z0-9_=-]{43}(?![/+])",
        min_entropy=3.0,
    ),
    keyed("dropbox-api-token", "Dropbox app secret", _DROPBOX, r"[a-z0-9]{15}", min_entropy=3.0),
    keyed("asana-client-id", "Asana client id", _ASANA, r"[0-9]{16}", min_entropy=2.5, check=None),
    keyed(
        "asana-client-secret",
        "Asana client secret",
        _ASANA,
        r"[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "asana-personal-access-token",
        "Asana personal access token",
        _ASANA,
        r"[0-9]/[0-9]{10,20}(?:/[0-9]{10,20})?:[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
    keyed("airtable-api-key", "Airtable API key", _AIRTABLE, r"[A-Za-z0-9]{17}", min_entropy=3.0),
    # "pat" alone is inside every "path": the token is looked for where Airtable is named.
    token(
        "airtable-personal-access-token",
        "Airtable personal access token",
        _AIRTABLE,
        r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}",
        min_entropy=3.0,
    ),
    keyed(
        "trello-access-token",
        "Trello API key",
        ("trello",),
        r"[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
    token(
        "typeform-api-token",
        "Typeform personal access token",
        ("tfp_",),
        r"tfp_[A-Za-z0-9_.=-]{40,64}",
        min_entropy=3.5,
    ),
    token(
        "figma-personal-access-token",
        "Figma personal access token",
        ("figd_",),
        r"figd_[A-Za-z0-9_-]{40,200}",
        min_entropy=3.5,
    ),
    token(
        "hubspot-private-app-token",
        "HubSpot private app access token",
        ("pat-na", "pat-eu"),
        rf"pat-(?:na|eu)[0-9]-{UUID}",
        min_entropy=3.0,
    ),
    keyed("hubspot-api-key", "HubSpot API key", ("hubspot",), UUID, min_entropy=3.0),
    token(
        "contentful-personal-access-token",
        "Contentful personal access token",
        ("cfpat-",),
        r"CFPAT-[A-Za-z0-9_-]{43}",
        min_entropy=3.5,
    ),
    keyed(
        "contentful-delivery-api-token",
        "Contentful delivery API token",
        ("contentful",),
        r"[A-Za-z0-9=_-]{43}",
        min_entropy=3.5,
    ),
    keyed(
        "freshbooks-access-token",
        "FreshBooks access token",
        ("freshbooks",),
        r"[A-Za-z0-9]{64}",
        min_entropy=3.5,
    ),
    keyed("adobe-client-id", "Adobe client id", ("adobe",), r"[a-fA-F0-9]{32}", min_entropy=3.0),
    token(
        "adobe-client-secret",
        "Adobe client secret",
        ("p8e-",),
        r"p8e-[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "beamer-api-token",
        "Beamer API key",
        ("beamer",),
        r"b_[A-Za-z0-9=_-]{44}",
        min_entropy=3.5,
    ),
    token(
        "frameio-api-token",
        "Frame.io developer token",
        ("fio-u-",),
        r"fio-u-[A-Za-z0-9_=-]{64}",
        min_entropy=3.5,
    ),
    token(
        "readme-api-token",
        "ReadMe API key",
        ("rdme_",),
        r"rdme_[a-z0-9]{70}",
        min_entropy=3.5,
    ),
    token(
        "salesforce-access-token",
        "Salesforce access token",
        ("00d",),
        r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9_.]{60,200}",
        min_entropy=3.5,
    ),
    token(
        "salesforce-consumer-key",
        "Salesforce connected app consumer key",
        ("3mvg",),
        r"3MVG[A-Za-z0-9_.]{60,200}",
        min_entropy=3.5,
    ),
    keyed(
        "algolia-api-key",
        "Algolia API key",
        ("algolia",),
        r"[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "mapbox-api-token",
        "Mapbox access token",
        _MAPBOX,
        r"[ps]k\.[A-Za-z0-9]{60}\.[A-Za-z0-9]{22}",
        min_entropy=3.5,
    ),
    token(
        "mapbox-secret-token",
        "Mapbox secret access token",
        ("sk.eyj",),
        r"sk\.eyJ[A-Za-z0-9_-]{20,300}\.[A-Za-z0-9_-]{20,30}",
        min_entropy=3.5,
    ),
)
