"""Who the SDK's requests are made as: a token given, or one a workload's JWT logs in for and
logs in for again before it expires (``STACKSAFE_JWT_ROLE`` and ``STACKSAFE_JWT_FILE`` for the
CLI; docs/identity.md).

The JWT is read again at every login: Kubernetes rewrites a projected service-account token's
file before it expires, so a ``run --watch`` that lives for days always logs in with a valid
one. ``-`` reads it once from stdin (a CI step pipes it in).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from stacksafe.errors import ConfigurationError

if (
    TYPE_CHECKING
):  # `import stacksafe.client` needs no HTTP library (the models, the CLI's local mode)
    import httpx

__all__ = ["RENEW_AT", "Credential", "GivenToken", "JwtLogin"]

# Log in again once this share of the token's life has passed (Infisical's operator: 70 %).
RENEW_AT = 0.7


class Credential(Protocol):
    """The bearer token of the next request."""

    def bearer(self, http: httpx.Client) -> str: ...

    def rejected(self) -> bool:
        """The server refused the token: whether asking ``bearer`` again may give a new one."""
        ...


class GivenToken:
    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "GivenToken(...)"

    def bearer(self, http: httpx.Client) -> str:
        return self._token

    def rejected(self) -> bool:
        return False


class JwtLogin:
    """A token from ``POST /auth/jwt/login``, kept until ``RENEW_AT`` of its ttl."""

    def __init__(self, role: str, jwt_file: str) -> None:
        if not role or not jwt_file:
            raise ConfigurationError("a JWT login needs a role and a JWT file (or - for stdin)")
        self.role, self.jwt_file = role, jwt_file
        self._stdin: str | None = None
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JwtLogin(role={self.role!r}, jwt_file={self.jwt_file!r})"

    def _jwt(self) -> str:
        if self.jwt_file == "-":
            if self._stdin is None:
                self._stdin = sys.stdin.read().strip()
            text = self._stdin
        else:
            try:
                text = Path(self.jwt_file).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigurationError(
                    f"the JWT file {self.jwt_file} (STACKSAFE_JWT_FILE) cannot be read "
                    f"({type(exc).__name__})"
                ) from None
        if not text:
            raise ConfigurationError(f"the JWT file {self.jwt_file} (STACKSAFE_JWT_FILE) is empty")
        return text

    def bearer(self, http: httpx.Client) -> str:
        with self._lock:
            if self._token is not None and time.monotonic() < self._renew_at:
                return self._token
            started = time.monotonic()
            from stacksafe.client.fields import Fields
            from stacksafe.client.transport import error_from_response, response_of

            response = http.post("/auth/jwt/login", json={"role": self.role, "jwt": self._jwt()})
            if response.status_code >= 400:
                raise error_from_response(response)
            # Read as every answer is (MalformedResponse naming the field, not a KeyError).
            answer = Fields(response_of(response), "JwtLoggedIn")
            ttl = answer.integer("ttl_seconds")
            self._token = answer.text("token")
            self._renew_at = started + ttl * RENEW_AT
            return self._token

    def rejected(self) -> bool:
        with self._lock:
            had = self._token is not None
            self._token = None
            return had
