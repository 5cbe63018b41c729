"""The webhook rotator: its url checked, and the call that tells the receiver a new value waits.

The call carries the pending version, never the value: the receiver reads it with its own token
(``?label=pending``). A 2xx reply makes it current; anything else leaves the current value in
place and reports the failure.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stacksafe.core.outbound import Address, OutboundPolicy, OutboundRefused, Unresolvable
from stacksafe.core.outbound_tls import outbound_tls
from stacksafe.core.rotators.failure import RotationFailed, refusal_text, refused
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = ["WEBHOOK_TIMEOUT", "call_webhook", "check_literal_host", "host_of", "webhook_url"]

WEBHOOK_TIMEOUT = 10.0

log = logging.getLogger(__name__)


def webhook_url(url: object) -> str:
    if not isinstance(url, str) or not url:
        raise InvalidInput("the webhook rotator needs url: the http(s) address to call")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the webhook url must be an http:// or https:// address with a host")
    if parts.username or parts.password:
        raise InvalidInput(
            "the webhook url must not hold credentials; use signing_key (a secret's key) so the "
            "receiver can verify calls"
        )
    try:
        port = parts.port  # ValueError: not a number, or above 65535
    except ValueError:
        port = 0
    if port is not None and not 0 < port < 65536:
        raise InvalidInput("the webhook url's port must be a number 1-65535")
    return url


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _port_of(url: str) -> int:
    """The url's port (ValueError if it is not a number 1-65535)."""
    parts = urlsplit(url)
    port = parts.port
    if port == 0:
        raise ValueError("port 0")
    return port or (443 if parts.scheme == "https" else 80)


def check_literal_host(kind: str, config: Mapping[str, Any], outbound: OutboundPolicy) -> None:
    """Refuse (``InvalidInput``) a webhook url whose host is an IP address the policy refuses,
    when the policy is written: http://169.254.169.254/ can never work. A host *name* is checked
    when the rotation runs, on what it resolves to then (it is not looked up here)."""
    if kind != "webhook":
        return
    url = str(config["url"])
    host = str(urlsplit(url).hostname)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if outbound.refusal(address) is not None:
        raise InvalidInput(f"the webhook url's host {refusal_text(host, _port_of(url))}")


def _url_host(address: Address) -> str:
    return f"[{address}]" if address.version == 6 else str(address)


def call_webhook(
    config: Mapping[str, Any],
    event: Mapping[str, Any],
    lookup: Callable[[str], SecretValue],
    outbound: OutboundPolicy,
) -> None:
    import httpx

    body = json.dumps(event, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Stacksafe-Event": "secret.rotation"}
    if config.get("signing_key"):
        key = lookup(str(config["signing_key"])).reveal().encode("utf-8")
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        headers["X-Stacksafe-Signature"] = f"sha256={digest}"
    url = str(config["url"])
    parts = urlsplit(url)
    host = str(parts.hostname)
    shown = host_of(url)
    try:
        # A policy written before ports were checked may hold one that is not 1-65535: a failed
        # rotation (its claim released), never an error of the server.
        port = _port_of(url)
    except ValueError:
        raise RotationFailed(
            f"the webhook {shown} could not be called: its port is not a number 1-65535"
        ) from None
    try:
        address = outbound.resolve(host, port)
    except OutboundRefused:
        raise refused(host, port) from None
    except Unresolvable as exc:
        log.warning("the webhook %s could not be called: %s", shown, exc)
        raise RotationFailed(f"the webhook {shown} could not be called") from None
    # To the address just checked, not to the name again (it may resolve elsewhere by now); the
    # Host header and TLS (SNI, certificate check) still use the name. No proxy (nor netrc)
    # from the server's environment (trust_env=False); the certificate authorities are still
    # httpx's usual ones, SSL_CERT_FILE / SSL_CERT_DIR included: trust, not a credential.
    checked = urlunsplit(parts._replace(netloc=f"{_url_host(address)}:{port}"))
    headers["Host"] = parts.netloc
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        with httpx.Client(
            verify=outbound_tls(),
            timeout=WEBHOOK_TIMEOUT,
            follow_redirects=False,
            trust_env=False,
        ) as client:
            reply = client.post(checked, content=body, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        # Which error (refused, reset, timeout, not HTTP) says what listens there: log only.
        log.warning("the webhook %s could not be called (%s)", shown, type(exc).__name__)
        raise RotationFailed(f"the webhook {shown} could not be called") from None
    if not 200 <= reply.status_code < 300:
        # Which status (404, 401, 405...) maps the HTTP services on internal hosts: the user is
        # told only that the call was not accepted; the status goes to the log and the audit.
        log.warning("the webhook %s answered %s, not 2xx", shown, reply.status_code)
        raise RotationFailed(
            f"the webhook {shown} did not accept the rotation; the current value stays",
            audit={"webhook_status": reply.status_code},
        )
