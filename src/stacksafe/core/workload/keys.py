"""Issuers' public keys fetched over HTTPS (discovery or a JWKS URL): when an issuer is
configured, and again when a token names a key the set does not have (the issuer rotated its
keys), as often as ``core.workload.key_sets`` allows."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from stacksafe.core.outbound_tls import outbound_tls
from stacksafe.crypto.jwt import JwkSet
from stacksafe.loopback import is_loopback

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "KeysUnavailable",
    "checked_url",
    "discovered_keys_url",
    "discovery_document",
    "fetch_keys",
]

MAX_DOCUMENT_BYTES = 512 * 1024  # a JWK set of a few dozen keys is a few kilobytes
_TIMEOUT_SECONDS = 5.0


class KeysUnavailable(Exception):
    """The issuer's document could not be fetched or read; the message says why, in one line."""


def checked_url(url: str) -> str:
    """``url`` if it is https:// (or plain http:// to loopback), else ``KeysUnavailable``."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise KeysUnavailable(f"{url[:200]!r} is not an https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        # Keys (or an authorization code) in the clear could be swapped or read on the way.
        raise KeysUnavailable(f"{url[:200]} must be https:// (plain HTTP only on loopback)")
    return url


def _fetch(url: str) -> str:
    checked_url(url)
    # Imported here: httpx, for a process that fetches an issuer's keys only.
    import httpx

    try:
        with httpx.stream(
            "GET",
            url,
            timeout=httpx.Timeout(_TIMEOUT_SECONDS),
            follow_redirects=False,
            verify=outbound_tls(),
        ) as response:
            if response.status_code != 200:
                raise KeysUnavailable(f"{url} answered HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise KeysUnavailable(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise KeysUnavailable(f"{url} could not be fetched ({type(exc).__name__})") from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise KeysUnavailable(f"{url} answered something that is not UTF-8 text") from None


def discovery_document(issuer: str) -> dict[str, Any]:
    """``issuer``'s OpenID discovery document, which must name ``issuer`` as its own (OpenID
    Connect Discovery 1.0, 4.3)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        document = json.loads(_fetch(url))
    except ValueError:
        raise KeysUnavailable(f"{url} is not JSON") from None
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise KeysUnavailable(f"{url} does not name {issuer} as its issuer")
    return document


def discovered_keys_url(issuer: str) -> str:
    """The ``jwks_uri`` of ``issuer``'s OpenID discovery document."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    keys_url = discovery_document(issuer).get("jwks_uri")
    if not isinstance(keys_url, str) or not keys_url:
        raise KeysUnavailable(f"{url} has no jwks_uri")
    return keys_url


def fetch_keys(keys_from: str, url: str, issuer: str) -> JwkSet:
    """The issuer's key set, from its discovery document or its JWKS URL."""
    keys_url = discovered_keys_url(issuer) if keys_from == "discovery" else url
    try:
        return JwkSet(_fetch(keys_url), keys_url)
    except ValueError as exc:
        raise KeysUnavailable(str(exc)) from None
