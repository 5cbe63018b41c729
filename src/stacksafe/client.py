"""The Python SDK: ``stacksafe.Client`` speaks the HTTP API (httpx) and raises stacksafe's errors.

>>> client = Client("https://stacksafe.example:8200", token)          # doctest: +SKIP
>>> client.reveal(stack="3f2a...")["DATABASE_PASSWORD"].reveal()   # doctest: +SKIP

Certificates are verified (``ca_bundle`` for a private CA); plain HTTP is refused unless the
host is a loopback address. Errors come back as the same classes the server raised
(``NotFound``, ``Forbidden``, ``Conflict``, ``RateLimited`` ...), mapped from the error body.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from stacksafe.errors import (
    AuditUnavailable,
    ConfigurationError,
    Conflict,
    ExpansionTooLarge,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServerUnreachable,
    StacksafeError,
    StorageUnavailable,
    Throttled,
    Unauthenticated,
)
from stacksafe.model import Secret, SecretValue
from stacksafe.paging import MAX_PER_PAGE

__all__ = ["Client", "RateLimited", "error_from_response"]

RateLimited = Throttled
_ERRORS: Mapping[str, type[StacksafeError]] = {
    "bad_request": InvalidInput,
    "expansion_too_large": ExpansionTooLarge,
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "conflict": Conflict,
    "precondition_failed": PreconditionFailed,
    "throttled": Throttled,
    "integrity_error": IntegrityError,
    "configuration_error": ConfigurationError,
    "audit_unavailable": AuditUnavailable,
    "storage_unavailable": StorageUnavailable,
}
_BY_STATUS: Mapping[int, type[StacksafeError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    429: Throttled,
    503: Throttled,
}
PER_PAGE = MAX_PER_PAGE  # the largest page the server gives: the fewest requests


def error_from_response(response: httpx.Response) -> StacksafeError:
    """The stacksafe error an error response stands for (the inverse of the server's table)."""
    try:
        body = response.json()
        code, message = str(body.get("error", "")), str(body.get("error_description", ""))
    except ValueError:
        code, message = "", ""
    cls = _ERRORS.get(code) or _BY_STATUS.get(response.status_code, StacksafeError)
    return cls(message or f"the server answered HTTP {response.status_code}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _secret(data: Mapping[str, Any], version: int = 0) -> Secret:
    raw = data.get("raw_value")
    return Secret(
        key=data["key"],
        value=data["value"],
        inherited=bool(data["inherited"]),
        version=version,  # 0: not known (lists carry no version; single reads have the ETag)
        created_at=_moment(data["created_at_iso"]),
        updated_at=_moment(data["updated_at_iso"]),
        raw_value=None if raw is None else SecretValue(raw),
    )


def _version(response: httpx.Response) -> int:
    tag = response.headers.get("etag", "").strip('"')
    return int(tag) if tag.isdigit() else 0


class Client:
    """A connection to a stacksafe server, authenticated by one token."""

    def __init__(
        self,
        address: str,
        token: str,
        *,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"server address {address!r} must be https://HOST[:PORT]")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ConfigurationError(
                f"refusing plain HTTP to {parts.hostname}: tokens and secrets would cross the "
                "network unencrypted; use https://"
            )
        self._http = httpx.Client(
            base_url=address.rstrip("/") + "/api/3",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "stacksafe-sdk"},
            verify=ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True,
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"Client({str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerUnreachable(
                f"cannot reach the stacksafe server at {self._http.base_url}: {type(exc).__name__}"
            ) from None
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            body = self._request(
                "GET", path, params={**params, "page": page, "per_page": PER_PAGE}
            ).json()
            yield from body["response"]
            following = body["pagination"]["next"]
            if following is None:
                return
            page = following

    @staticmethod
    def _level(stack: str | None, account: str | None) -> str:
        if (stack is None) == (account is None):
            raise InvalidInput("name exactly one of stack= (uid) or account= (uid or name)")
        if stack is not None:
            return f"/stacks/{quote(stack, safe='')}/secrets"
        return f"/accounts/{quote(account or '', safe='')}/secrets"

    # -- accounts and stacks --------------------------------------------------------------

    def accounts(self) -> list[dict[str, Any]]:
        return list(self._pages("/accounts", {}))

    def stacks(
        self, *, name: str | None = None, environment: str | None = None, account: str | None = None
    ) -> list[dict[str, Any]]:
        params = {
            k: v
            for k, v in {
                "filter_name": name,
                "filter_environment": environment,
                "account_id": account,
            }.items()
            if v is not None
        }
        return list(self._pages("/stacks", params))

    def create_account(self, name: str) -> dict[str, Any]:
        created: dict[str, Any] = self._request("POST", "/accounts", json={"name": name}).json()
        return created["response"]  # type: ignore[no-any-return]

    def create_stack(
        self, name: str, *, account: str, environment: str = "development"
    ) -> dict[str, Any]:
        body = {"name": name, "account_id": account, "environment": environment}
        created: dict[str, Any] = self._request("POST", "/stacks", json=body).json()
        return created["response"]  # type: ignore[no-any-return]

    def verify_audit(
        self, expect_heads: Sequence[str] = (), *, no_anchor: bool = False
    ) -> dict[str, Any]:
        """Walk the server's audit hash chain (the owner only): intact, events, first bad event,
        head; the log must reach the server's checkpoint and each ``SEQ:HASH`` given (with
        neither, not intact unless ``no_anchor``)."""
        params: dict[str, Any] = {}
        if expect_heads:
            params["expect_head"] = list(expect_heads)
        if no_anchor:
            params["no_anchor"] = "true"
        answer = self._request("GET", "/audit_logs/verify", params=params or None)
        report: dict[str, Any] = answer.json()["response"]
        return report

    # -- users and tokens -----------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        return list(self._pages("/users", {}))

    def create_user(
        self,
        email: str,
        *,
        account: str,
        role: str = "viewer",
        stack_roles: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a user, or give an existing one a role in ``account`` (and stack roles)."""
        body = {
            "email": email,
            "account_id": account,
            "role": role,
            "stack_roles": dict(stack_roles or {}),
        }
        created: dict[str, Any] = self._request("POST", "/users", json=body).json()["response"]
        return created

    def tokens(self, *, user: str | None = None) -> list[dict[str, Any]]:
        """Tokens (never their values): every one for the owner, else the caller's own."""
        return list(self._pages("/tokens", {} if user is None else {"user": user}))

    def create_token(
        self,
        user: str,
        *,
        scopes: Sequence[str],
        stacks: Sequence[str] = (),
        environments: Sequence[str] = (),
        expires_in: str | None = None,
    ) -> dict[str, Any]:
        """A new token for ``user``; the response's ``token`` is its value, shown only now."""
        body = {
            "user": user,
            "scopes": list(scopes),
            "stacks": list(stacks),
            "environments": list(environments),
            "expires_in": expires_in,
        }
        created: dict[str, Any] = self._request("POST", "/tokens", json=body).json()["response"]
        return created

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        path = f"/tokens/{quote(token_id, safe='')}"
        revoked: dict[str, Any] = self._request("DELETE", path).json()["response"]
        return revoked

    # -- secrets --------------------------------------------------------------------------

    def list_secrets(
        self,
        *,
        stack: str | None = None,
        account: str | None = None,
        reveal: bool = False,
        resolve: bool = True,
        purpose: str | None = None,
    ) -> list[Secret]:
        """A stack's effective secrets, or an account's own; raw values only with ``reveal``
        (``${KEY}`` references resolved unless ``resolve`` is False). ``purpose`` goes into the
        reveal's audit event (printable ASCII, up to 200 characters)."""
        path = self._level(stack, account)
        params = {"reveal": str(reveal).lower(), "resolve": str(resolve).lower()}
        if purpose is not None:
            params["purpose"] = purpose
        return [_secret(item) for item in self._pages(path, params)]

    def reveal(
        self,
        *,
        stack: str | None = None,
        account: str | None = None,
        resolve: bool = True,
        purpose: str | None = None,
    ) -> dict[str, SecretValue]:
        """Key → plaintext of the effective set, fetched in one request per 1,000 keys."""
        found = self.list_secrets(
            stack=stack, account=account, reveal=True, resolve=resolve, purpose=purpose
        )
        return {s.key: s.raw_value for s in found if s.raw_value is not None}

    def get_secret(
        self,
        key: str,
        *,
        stack: str | None = None,
        account: str | None = None,
        reveal: bool = False,
        resolve: bool = True,
        label: str | None = None,
    ) -> Secret:
        """``key`` as the level sees it; with ``label`` (current, previous, pending), that
        version of the level's own key."""
        path = f"{self._level(stack, account)}/{quote(key, safe='')}"
        params = {"reveal": str(reveal).lower(), "resolve": str(resolve).lower()}
        if label is not None:
            params["label"] = label
        response = self._request("GET", path, params=params)
        return _secret(response.json()["response"], _version(response))

    def set_secret(
        self,
        key: str,
        value: str | SecretValue,
        *,
        stack: str | None = None,
        account: str | None = None,
        if_version: int | None = None,
        environments: Sequence[str] | None = None,
    ) -> Secret:
        """Create or replace; with ``if_version`` only if the current version is that one.

        ``environments`` (account level): the environments whose stacks inherit it (``[]``:
        all); None leaves the restriction as it is.
        """
        text = value.reveal() if isinstance(value, SecretValue) else value
        headers = {} if if_version is None else {"If-Match": f'"{if_version}"'}
        path = f"{self._level(stack, account)}/{quote(key, safe='')}"
        body: dict[str, Any] = {"raw_value": text}
        if environments is not None:
            body["environments"] = list(environments)
        response = self._request("PUT", path, json=body, headers=headers)
        return _secret(response.json()["response"], _version(response))

    def delete_secret(
        self,
        key: str,
        *,
        stack: str | None = None,
        account: str | None = None,
        if_version: int | None = None,
    ) -> None:
        headers = {} if if_version is None else {"If-Match": f'"{if_version}"'}
        self._request(
            "DELETE", f"{self._level(stack, account)}/{quote(key, safe='')}", headers=headers
        )

    def import_secrets(
        self,
        values: Mapping[str, str | SecretValue],
        *,
        stack: str | None = None,
        account: str | None = None,
    ) -> dict[str, list[str]]:
        """Set many in one transaction; returns the added / changed / unchanged keys."""
        body = {
            "secrets": {
                k: v.reveal() if isinstance(v, SecretValue) else v for k, v in values.items()
            }
        }
        response = self._request("PUT", self._level(stack, account), json=body)
        report: dict[str, list[str]] = response.json()["response"]
        return report

    # -- environments -----------------------------------------------------------------------

    def environments(self, key: str, *, account: str) -> list[str] | None:
        """The environments whose stacks inherit an account secret (None: all)."""
        path = f"{self._level(None, account)}/{quote(key, safe='')}/environments"
        found: list[str] | None = self._request("GET", path).json()["response"]["environments"]
        return found

    def restrict(self, key: str, environments: Sequence[str], *, account: str) -> list[str] | None:
        """Restrict an account secret to stacks of ``environments`` (``[]``: all again)."""
        path = f"{self._level(None, account)}/{quote(key, safe='')}/environments"
        body = {"environments": list(environments)}
        found: list[str] | None = self._request("PUT", path, json=body).json()["response"][
            "environments"
        ]
        return found

    def diff(self, stack: str, other: str) -> list[dict[str, Any]]:
        """Keys missing on either stack, and keys whose values differ (by fingerprint)."""
        path = f"/stacks/{quote(stack, safe='')}/diff"
        entries: list[dict[str, Any]] = self._request("GET", path, params={"other": other}).json()[
            "response"
        ]
        return entries

    def copy(
        self,
        from_stack: str,
        to_stack: str,
        keys: Sequence[str] | None = None,
        *,
        allow_production_source: bool = False,
    ) -> dict[str, list[str]]:
        """Copy ``from_stack``'s effective values into ``to_stack``'s own level."""
        body = {
            "from_stack": from_stack,
            "keys": None if keys is None else list(keys),
            "allow_production_source": allow_production_source,
        }
        path = f"/stacks/{quote(to_stack, safe='')}/secrets/copy"
        report: dict[str, list[str]] = self._request("POST", path, json=body).json()["response"]
        return report

    # -- versions ---------------------------------------------------------------------------

    def history(
        self,
        key: str,
        *,
        stack: str | None = None,
        account: str | None = None,
        reveal: bool = False,
    ) -> list[dict[str, Any]]:
        """Every version of ``key`` at that level, newest first (values only with ``reveal``)."""
        path = f"{self._level(stack, account)}/{quote(key, safe='')}/versions"
        return list(self._pages(path, {"reveal": str(reveal).lower()}))

    def rollback(
        self,
        key: str,
        to_version: int,
        *,
        stack: str | None = None,
        account: str | None = None,
        if_version: int | None = None,
    ) -> Secret:
        """Make version ``to_version``'s value current again (a new version)."""
        headers = {} if if_version is None else {"If-Match": f'"{if_version}"'}
        path = f"{self._level(stack, account)}/{quote(key, safe='')}/rollback"
        response = self._request("POST", path, json={"to_version": to_version}, headers=headers)
        return _secret(response.json()["response"], _version(response))

    def rollback_level(
        self, to: str, *, stack: str | None = None, account: str | None = None
    ) -> dict[str, Any]:
        """Every key of that level as it was at ``to`` (ISO 8601 with an offset)."""
        path = f"{self._level(stack, account)}/rollback"
        report: dict[str, Any] = self._request("POST", path, json={"to": to}).json()["response"]
        return report

    def undelete(self, key: str, *, stack: str | None = None, account: str | None = None) -> Secret:
        path = f"{self._level(stack, account)}/{quote(key, safe='')}/undelete"
        response = self._request("POST", path)
        return _secret(response.json()["response"], _version(response))

    def destroy_version(
        self, key: str, version: int, *, stack: str | None = None, account: str | None = None
    ) -> None:
        path = f"{self._level(stack, account)}/{quote(key, safe='')}/versions/{int(version)}"
        self._request("DELETE", path)

    def max_versions(self, *, stack: str | None = None, account: str | None = None) -> int | None:
        path = self._level(stack, account).removesuffix("/secrets") + "/secret_policy"
        limit: int | None = self._request("GET", path).json()["response"]["max_versions"]
        return limit

    def set_max_versions(
        self, limit: int | None, *, stack: str | None = None, account: str | None = None
    ) -> None:
        path = self._level(stack, account).removesuffix("/secrets") + "/secret_policy"
        self._request("PUT", path, json={"max_versions": limit})

    # -- rotation --------------------------------------------------------------------------

    def rotation_policy(
        self, key: str, *, stack: str | None = None, account: str | None = None
    ) -> dict[str, Any]:
        path = f"{self._level(stack, account)}/{quote(key, safe='')}/rotation"
        policy: dict[str, Any] = self._request("GET", path).json()["response"]
        return policy

    def set_rotation(
        self,
        key: str,
        *,
        stack: str | None = None,
        account: str | None = None,
        rotate_every: str | None = None,
        expires_at: datetime | None = None,
        rotator: str = "manual",
        config: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Give ``key`` a rotation policy (``rotate_every`` like ``30d``), replacing any."""
        path = f"{self._level(stack, account)}/{quote(key, safe='')}/rotation"
        body = {
            "rotate_every": rotate_every,
            "expires_at": None if expires_at is None else expires_at.isoformat(),
            "rotator": rotator,
            "config": dict(config or {}),
        }
        policy: dict[str, Any] = self._request("PUT", path, json=body).json()["response"]
        return policy

    def clear_rotation(
        self, key: str, *, stack: str | None = None, account: str | None = None
    ) -> None:
        self._request("DELETE", f"{self._level(stack, account)}/{quote(key, safe='')}/rotation")

    def rotate(
        self, key: str, *, stack: str | None = None, account: str | None = None
    ) -> dict[str, Any]:
        """Rotate ``key`` now; the outcome says ``rotated``, ``failed`` (with ``error``; the
        current value stays) or ``skipped``."""
        path = f"{self._level(stack, account)}/{quote(key, safe='')}/rotate"
        outcome: dict[str, Any] = self._request("POST", path).json()["response"]
        return outcome

    def rotation_status(
        self, account: str, *, within: str = "7d", include_ok: bool = False
    ) -> list[dict[str, Any]]:
        """An account's secrets that are expired, overdue, expiring or due, most urgent first."""
        path = f"/accounts/{quote(account, safe='')}/rotation_status"
        return list(self._pages(path, {"within": within, "all": str(include_ok).lower()}))

    def audit_logs(
        self, *, account: str | None = None, limit: int | None = None, **filters: str
    ) -> list[dict[str, Any]]:
        """Audit events, newest first: an account's, or all of them (the owner)."""
        path = "/audit_logs"
        if account is not None:
            path = f"/accounts/{quote(account, safe='')}/audit_logs"
        events = []
        for event in self._pages(path, filters):
            events.append(event)
            if limit is not None and len(events) >= limit:
                break
        return events
