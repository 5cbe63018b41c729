"""The HTTPS sink: each batch one POST of NDJSON (``application/x-ndjson``, a line an event),
delivered when the receiver answers 2xx.

HTTPS only (plain HTTP to loopback alone: nothing crosses a network), the receiver's certificate
checked against the system's CAs or a ``ca_file``. The connection goes only where
``core.outbound`` allows, to the address checked (the Host header, SNI and the certificate check
keep the URL's name). Redirects are not followed: a 3xx fails the batch, so an answer cannot send
the audit stream somewhere the outbound rule never saw. 429 and 503 with ``Retry-After`` pause
the sink as asked (at most ``MAX_RETRY_AFTER``); any other status fails the batch with the
status alone in the message (a body is never used: echoing it would hand the receiver a voice
in our logs; up to 64 KiB of it is read and discarded so that the connection stays open).

With an HMAC secret, each POST carries ``Stacksafe-Signature`` (core.streams.signature). The
secret, the custom headers (often an ``Authorization`` token) and the URL's path and query
(some receivers put a token there) appear in no message and no repr.

``HttpSink.post`` is the POST itself, for a body and a secret given at the time: the change
events' webhooks (core.webhooks.sink) send through it, under the same rules.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from stacksafe.core.outbound import Address, OutboundPolicy, OutboundRefused, Unresolvable
from stacksafe.core.outbound_tls import outbound_tls
from stacksafe.core.rotators.failure import refusal_text
from stacksafe.core.streams import signature
from stacksafe.core.streams.http_config import CONTENT_TYPE, HttpConfig
from stacksafe.core.streams.http_deadline import Deadline, deadline_transport
from stacksafe.core.streams.sink import SinkUnavailable

__all__ = ["CONTENT_TYPE", "MAX_RETRY_AFTER", "HttpConfig", "HttpSink", "retry_after"]

MAX_RETRY_AFTER = 3600.0  # a receiver may pause its own stream, not stop it for days
_PAUSING = frozenset({429, 503})
_DRAIN_LIMIT = 64 * 1024


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date; RFC 9110
    10.2.3), at most ``MAX_RETRY_AFTER``; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


def _url_host(address: Address) -> str:
    return f"[{address}]" if address.version == 6 else str(address)


class HttpSink:
    """``Sink`` over HTTPS; one client (its connections kept alive) across batches."""

    def __init__(self, config: HttpConfig, outbound: OutboundPolicy) -> None:
        self.config = config
        self._outbound = outbound
        self._client: httpx.Client | None = None
        self._deadline = Deadline()

    def __repr__(self) -> str:
        return f"HttpSink({self.config.where})"

    def deliver(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        secret = self.config.hmac_secret
        self.post(b"\n".join(lines) + b"\n", None if secret is None else secret.reveal().encode())

    def post(self, body: bytes, secret: bytes | None) -> None:
        """POST ``body``, signed with ``secret`` when given; ``SinkUnavailable`` unless the
        receiver answered 2xx."""
        parts = urlsplit(self.config.url)
        host = str(parts.hostname)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        where = self.config.where
        label = self.config.label
        try:
            address = self._outbound.resolve(host, port)
        except OutboundRefused:
            raise SinkUnavailable(f"{label}'s {refusal_text(host, port)}") from None
        except Unresolvable:
            raise SinkUnavailable(f"{label} {where}: its name could not be resolved") from None
        headers = dict(self.config.headers)
        headers.update({"Host": parts.netloc, "Content-Type": self.config.content_type})
        if secret is not None:
            headers[signature.HEADER] = signature.sign(secret, body)
        checked = urlunsplit(parts._replace(netloc=f"{_url_host(address)}:{port}"))
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        client = self._open()
        # One deadline for the whole exchange (connect, send, the answer and its drain):
        # httpx's timeout bounds each read, which a receiver dripping its answer never hits.
        self._deadline.start(self.config.timeout)
        try:
            request = client.build_request(
                "POST", checked, content=body, headers=headers, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                _drain(response)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            self.close()
            raise SinkUnavailable(f"{label} {where}: {_reason(exc)}") from None
        finally:
            self._deadline.end()
        status = response.status_code
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise SinkUnavailable(f"{label} {where} answered {status}: redirects are not followed")
        pause = (
            retry_after(response.headers.get("retry-after"), time.time())
            if status in _PAUSING
            else None
        )
        asked = f"; it asked for a pause of {pause:g} s" if pause is not None else ""
        raise SinkUnavailable(f"{label} {where} answered {status}{asked}", retry_after=pause)

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def _open(self) -> httpx.Client:
        if self._client is None:
            # No proxy (nor netrc) from the server's environment: the connection goes to the
            # checked address; SSL_CERT_FILE / SSL_CERT_DIR still count (trust, not a credential).
            self._client = httpx.Client(
                transport=deadline_transport(self._tls_context(), self._deadline),
                timeout=self.config.timeout,
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": self.config.user_agent},
            )
        return self._client

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.config.ca_file
        if ca_file is None:
            return outbound_tls()
        try:
            return ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise SinkUnavailable(
                f"{self.config.label} {self.config.where}: its CA file {ca_file} could not be "
                "loaded "
                f"({type(exc).__name__})"
            ) from None


def _drain(response: httpx.Response) -> None:
    """Read and discard a short body, so that the connection can carry the next batch; a longer
    one is left unread (closing the response then closes the connection)."""
    read = 0
    for chunk in response.iter_raw():
        read += len(chunk)
        if read > _DRAIN_LIMIT:
            return


def _reason(exc: httpx.HTTPError) -> str:
    """A fixed phrase for the failure (no text the receiver sent)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    cause: BaseException | None = exc
    while cause is not None:  # httpx wraps httpcore's error, which wraps ssl's
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"its TLS certificate was not accepted ({cause.verify_message})"
        cause = cause.__cause__ or cause.__context__
    return f"it could not be reached ({type(exc).__name__})"
