"""The TLS context the server's own HTTPS calls verify certificates with: made once per trust
setting, not once per call.

The issuers' keys, the token endpoints of single sign-on, webhook rotators and audit sinks each
made an httpx client per call, and each client loaded the certificate authorities anew (httpx's
``create_ssl_context``: certifi's bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), which cost
more CPU than the call itself. The context is kept per trust setting: the two variables as they
are at the call, and the modification times of what they name, so a bundle changed on disk or
a variable set later is loaded on the next call, as before. An ``SSLContext`` is safe to share
between threads for making connections.
"""

from __future__ import annotations

import functools
import os
import ssl

__all__ = ["outbound_tls"]


def outbound_tls() -> ssl.SSLContext:
    """httpx's default context for verifying a server's certificate, kept while the trust
    setting (``SSL_CERT_FILE``, ``SSL_CERT_DIR`` and what they name) is unchanged."""
    return _context(_named("SSL_CERT_FILE"), _named("SSL_CERT_DIR"))


def _named(variable: str) -> tuple[str, int] | None:
    path = os.environ.get(variable)
    if not path:
        return None
    try:
        return path, os.stat(path).st_mtime_ns
    except OSError:
        return path, -1


@functools.lru_cache(maxsize=4)
def _context(cert_file: tuple[str, int] | None, cert_dir: tuple[str, int] | None) -> ssl.SSLContext:
    # Imported here: httpx, for a process that makes such calls only.
    import httpx

    return httpx.create_ssl_context()
