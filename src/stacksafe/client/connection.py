"""``stacksafe.Client``: the HTTP API as Python methods that return typed models.

>>> client = Client("https://stacksafe.example:8200", token)          # doctest: +SKIP
>>> client.reveal(stack="3f2a...")["DATABASE_PASSWORD"].reveal()   # doctest: +SKIP

Each method is one API call (or one per page of 1,000 for lists); what comes back is parsed in
``stacksafe.client.models`` and errors are raised as the server raised them
(``stacksafe.client.transport``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from stacksafe.client.changes import Changes
from stacksafe.client.fields import Fields, array
from stacksafe.client.login import Credential
from stacksafe.client.models import (
    Account,
    AuditEvent,
    AuditVerification,
    CreatedToken,
    DiffEntry,
    ImportReport,
    RollbackReport,
    RotationOutcome,
    RotationPolicy,
    RotationStatus,
    SecretMeta,
    Stack,
    Token,
    User,
    VersionEntry,
    secret_from_json,
)
from stacksafe.client.offboarding import Offboarding
from stacksafe.client.transport import Transport, etag_version, path_segment, response_of
from stacksafe.client.webhooks import Webhooks
from stacksafe.errors import BrokenReferences, InvalidInput
from stacksafe.model import Secret, SecretValue

__all__ = ["Client"]


class Client(Offboarding, Changes, Webhooks):
    """A connection to a stacksafe server, authenticated by a token, or by a workload's JWT
    (``Client(address, JwtLogin(role, jwt_file))``: it logs in, and again before the token
    expires)."""

    def __init__(
        self,
        address: str,
        token: str | Credential,
        *,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._transport = Transport(
            address, token, ca_bundle=ca_bundle, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"Client({str(self._transport.http.base_url)!r})"

    def close(self) -> None:
        self._transport.close()

    def bearer(self) -> str:
        """The token this client's requests carry (a JWT login logs in for it first)."""
        return self._transport.bearer()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _answer(self, method: str, path: str, **kwargs: Any) -> object:
        return self._transport.answer(method, path, **kwargs)

    def _pages(self, path: str, params: dict[str, str]) -> list[object]:
        return list(self._transport.pages(path, params))

    def _secret(self, method: str, path: str, **kwargs: Any) -> Secret:
        response = self._transport.request(method, path, **kwargs)
        return secret_from_json(response_of(response), etag_version(response))

    def _environments(self, method: str, path: str, **kwargs: Any) -> list[str] | None:
        answer = Fields(self._answer(method, path, **kwargs), "SecretEnvironments")
        found = answer.texts_or_none("environments")
        return None if found is None else list(found)

    @staticmethod
    def _level(stack: str | None, account: str | None) -> str:
        if (stack is None) == (account is None):
            raise InvalidInput("name exactly one of stack= (uid) or account= (uid or name)")
        if stack is not None:
            return f"/stacks/{path_segment(stack)}/secrets"
        return f"/accounts/{path_segment(account or '')}/secrets"

    # -- accounts and stacks --------------------------------------------------------------

    def accounts(self) -> list[Account]:
        return [Account.from_json(a) for a in self._transport.pages("/accounts", {})]

    def stacks(
        self, *, name: str | None = None, environment: str | None = None, account: str | None = None
    ) -> list[Stack]:
        params = {
            k: v
            for k, v in {
                "filter_name": name,
                "filter_environment": environment,
                "account_id": account,
            }.items()
            if v is not None
        }
        return [Stack.from_json(s) for s in self._transport.pages("/stacks", params)]

    def create_account(self, name: str) -> Account:
        return Account.from_json(self._answer("POST", "/accounts", json={"name": name}))

    def create_stack(self, name: str, *, account: str, environment: str = "development") -> Stack:
        body = {"name": name, "account_id": account, "environment": environment}
        return Stack.from_json(self._answer("POST", "/stacks", json=body))

    def verify_audit(
        self, expect_heads: Sequence[str] = (), *, no_anchor: bool = False
    ) -> AuditVerification:
        """Walk the server's audit hash chain (the owner only): intact, events, first bad event,
        head; the log must reach the server's checkpoint and each ``SEQ:HASH`` given (with
        neither, not intact unless ``no_anchor``)."""
        params: dict[str, Any] = {}
        if expect_heads:
            params["expect_head"] = list(expect_heads)
        if no_anchor:
            params["no_anchor"] = "true"
        answer = self._answer("GET", "/audit_logs/verify", params=params or None)
        return AuditVerification.from_json(answer)

    # -- users and tokens -----------------------------------------------------------------

    def users(self) -> list[User]:
        return [User.from_json(u) for u in self._transport.pages("/users", {})]

    def create_user(
        self,
        email: str,
        *,
        account: str,
        role: str = "viewer",
        stack_roles: Mapping[str, str] | None = None,
    ) -> User:
        """Create a user, or give an existing one a role in ``account`` (and stack roles)."""
        body = {
            "email": email,
            "account_id": account,
            "role": role,
            "stack_roles": dict(stack_roles or {}),
        }
        return User.from_json(self._answer("POST", "/users", json=body))

    def tokens(self, *, user: str | None = None) -> list[Token]:
        """Tokens (never their values): every one for the owner, else the caller's own."""
        found = self._transport.pages("/tokens", {} if user is None else {"user": user})
        return [Token.from_json(t) for t in found]

    def create_token(
        self,
        user: str,
        *,
        scopes: Sequence[str],
        stacks: Sequence[str] = (),
        environments: Sequence[str] = (),
        expires_in: str | None = None,
    ) -> CreatedToken:
        """A new token for ``user``; its ``token`` is the value (masked), shown only now."""
        body = {
            "user": user,
            "scopes": list(scopes),
            "stacks": list(stacks),
            "environments": list(environments),
            "expires_in": expires_in,
        }
        return CreatedToken.from_json(self._answer("POST", "/tokens", json=body))

    def revoke_token(self, token_id: str) -> Token:
        return Token.from_json(self._answer("DELETE", f"/tokens/{path_segment(token_id)}"))

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
        """A stack's effective secrets, or an account's own, each with its version, whether it
        overrides an account secret, and an account secret's environments (the list's ``meta``);
        raw values only with ``reveal`` (``${KEY}`` references resolved unless ``resolve`` is
        False). ``purpose`` goes into the reveal's audit event (printable ASCII, up to 200
        characters)."""
        path = self._level(stack, account)
        params = {"reveal": str(reveal).lower(), "resolve": str(resolve).lower()}
        if purpose is not None:
            params["purpose"] = purpose
        found: list[Secret] = []
        for body in self._transport.envelopes(path, params):
            meta = SecretMeta.of_page(body)
            for item in array(body.raw("response"), "ListEnvelope.response"):
                key = Fields(item, "Secret").text("key")
                found.append(secret_from_json(item, meta=meta.get(key)))
        return found

    def reveal(
        self,
        *,
        stack: str | None = None,
        account: str | None = None,
        resolve: bool = True,
        purpose: str | None = None,
    ) -> dict[str, SecretValue]:
        """Key → plaintext of the effective set, fetched in one request per 1,000 keys.
        ``BrokenReferences`` naming the keys whose ``${...}`` references the server cannot
        resolve (a revealed list gives those without a value), rather than leaving them out;
        ``list_secrets(reveal=True)`` gives the others."""
        found = self.list_secrets(
            stack=stack, account=account, reveal=True, resolve=resolve, purpose=purpose
        )
        BrokenReferences.among(
            {s.key: f"{s.key!r} has a broken reference" for s in found if s.raw_value is None}
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
        path = f"{self._level(stack, account)}/{path_segment(key)}"
        params = {"reveal": str(reveal).lower(), "resolve": str(resolve).lower()}
        if label is not None:
            params["label"] = label
        return self._secret("GET", path, params=params)

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
        path = f"{self._level(stack, account)}/{path_segment(key)}"
        body: dict[str, Any] = {"raw_value": text}
        if environments is not None:
            body["environments"] = list(environments)
        return self._secret("PUT", path, json=body, headers=headers)

    def delete_secret(
        self,
        key: str,
        *,
        stack: str | None = None,
        account: str | None = None,
        if_version: int | None = None,
    ) -> None:
        headers = {} if if_version is None else {"If-Match": f'"{if_version}"'}
        path = f"{self._level(stack, account)}/{path_segment(key)}"
        self._transport.request("DELETE", path, headers=headers)

    def import_secrets(
        self,
        values: Mapping[str, str | SecretValue],
        *,
        stack: str | None = None,
        account: str | None = None,
        raw: bool = False,
    ) -> ImportReport:
        """Set many in one transaction; returns the added / changed / unchanged keys. Each
        value reads back exactly as given; with ``raw`` the values are stored text (``${KEY}``
        references stay live, ``$${`` is a literal ``${``), as an unresolved export gives them."""
        body: dict[str, object] = {
            "secrets": {
                k: v.reveal() if isinstance(v, SecretValue) else v for k, v in values.items()
            }
        }
        if raw:
            body["raw"] = True
        return ImportReport.from_json(self._answer("PUT", self._level(stack, account), json=body))

    # -- environments -----------------------------------------------------------------------

    def environments(self, key: str, *, account: str) -> list[str] | None:
        """The environments whose stacks inherit an account secret (None: all)."""
        path = f"{self._level(None, account)}/{path_segment(key)}/environments"
        return self._environments("GET", path)

    def restrict(self, key: str, environments: Sequence[str], *, account: str) -> list[str] | None:
        """Restrict an account secret to stacks of ``environments`` (``[]``: all again)."""
        path = f"{self._level(None, account)}/{path_segment(key)}/environments"
        body = {"environments": list(environments)}
        return self._environments("PUT", path, json=body)

    def diff(self, stack: str, other: str) -> list[DiffEntry]:
        """Keys missing on either stack, and keys whose values differ (by fingerprint)."""
        path = f"/stacks/{path_segment(stack)}/diff"
        entries = array(self._answer("GET", path, params={"other": other}), "DiffEntry list")
        return [DiffEntry.from_json(e) for e in entries]

    def copy(
        self,
        from_stack: str,
        to_stack: str,
        keys: Sequence[str] | None = None,
        *,
        allow_production_source: bool = False,
    ) -> ImportReport:
        """Copy ``from_stack``'s effective values into ``to_stack``'s own level."""
        body = {
            "from_stack": from_stack,
            "keys": None if keys is None else list(keys),
            "allow_production_source": allow_production_source,
        }
        path = f"/stacks/{path_segment(to_stack)}/secrets/copy"
        return ImportReport.from_json(self._answer("POST", path, json=body))

    # -- versions ---------------------------------------------------------------------------

    def history(
        self,
        key: str,
        *,
        stack: str | None = None,
        account: str | None = None,
        reveal: bool = False,
    ) -> list[VersionEntry]:
        """Every version of ``key`` at that level, newest first (values only with ``reveal``)."""
        path = f"{self._level(stack, account)}/{path_segment(key)}/versions"
        found = self._transport.pages(path, {"reveal": str(reveal).lower()})
        return [VersionEntry.from_json(v) for v in found]

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
        path = f"{self._level(stack, account)}/{path_segment(key)}/rollback"
        return self._secret("POST", path, json={"to_version": to_version}, headers=headers)

    def rollback_level(
        self, to: str, *, stack: str | None = None, account: str | None = None
    ) -> RollbackReport:
        """Every key of that level as it was at ``to`` (ISO 8601 with an offset)."""
        path = f"{self._level(stack, account)}/rollback"
        return RollbackReport.from_json(self._answer("POST", path, json={"to": to}))

    def undelete(self, key: str, *, stack: str | None = None, account: str | None = None) -> Secret:
        path = f"{self._level(stack, account)}/{path_segment(key)}/undelete"
        return self._secret("POST", path)

    def destroy_version(
        self, key: str, version: int, *, stack: str | None = None, account: str | None = None
    ) -> None:
        path = f"{self._level(stack, account)}/{path_segment(key)}/versions/{int(version)}"
        self._transport.request("DELETE", path)

    def max_versions(self, *, stack: str | None = None, account: str | None = None) -> int | None:
        path = self._level(stack, account).removesuffix("/secrets") + "/secret_policy"
        return Fields(self._answer("GET", path), "SecretPolicy").integer_or_none("max_versions")

    def set_max_versions(
        self, limit: int | None, *, stack: str | None = None, account: str | None = None
    ) -> None:
        path = self._level(stack, account).removesuffix("/secrets") + "/secret_policy"
        self._transport.request("PUT", path, json={"max_versions": limit})

    # -- rotation --------------------------------------------------------------------------

    def rotation_policy(
        self, key: str, *, stack: str | None = None, account: str | None = None
    ) -> RotationPolicy:
        path = f"{self._level(stack, account)}/{path_segment(key)}/rotation"
        return RotationPolicy.from_json(self._answer("GET", path))

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
    ) -> RotationPolicy:
        """Give ``key`` a rotation policy (``rotate_every`` like ``30d``), replacing any."""
        path = f"{self._level(stack, account)}/{path_segment(key)}/rotation"
        body = {
            "rotate_every": rotate_every,
            "expires_at": None if expires_at is None else expires_at.isoformat(),
            "rotator": rotator,
            "config": dict(config or {}),
        }
        return RotationPolicy.from_json(self._answer("PUT", path, json=body))

    def clear_rotation(
        self, key: str, *, stack: str | None = None, account: str | None = None
    ) -> None:
        path = f"{self._level(stack, account)}/{path_segment(key)}/rotation"
        self._transport.request("DELETE", path)

    def rotate(
        self, key: str, *, stack: str | None = None, account: str | None = None
    ) -> RotationOutcome:
        """Rotate ``key`` now; the outcome says ``rotated``, ``failed`` (with ``error``; the
        current value stays) or ``skipped``."""
        path = f"{self._level(stack, account)}/{path_segment(key)}/rotate"
        return RotationOutcome.from_json(self._answer("POST", path))

    def rotation_status(
        self, account: str, *, within: str = "7d", include_ok: bool = False
    ) -> list[RotationStatus]:
        """An account's secrets that are expired, overdue, expiring or due, most urgent first."""
        path = f"/accounts/{path_segment(account)}/rotation_status"
        found = self._transport.pages(path, {"within": within, "all": str(include_ok).lower()})
        return [RotationStatus.from_json(e) for e in found]

    def audit_logs(
        self, *, account: str | None = None, limit: int | None = None, **filters: str
    ) -> list[AuditEvent]:
        """Audit events, newest first: an account's, or all of them (the owner)."""
        path = "/audit_logs"
        if account is not None:
            path = f"/accounts/{path_segment(account)}/audit_logs"
        events = []
        for event in self._transport.pages(path, filters):
            events.append(AuditEvent.from_json(event))
            if limit is not None and len(events) >= limit:
                break
        return events
