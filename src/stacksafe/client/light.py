"""The light reader: a stack's revealed values over one keep-alive connection of the standard
library's ``http.client``, for `stacksafe run`, which asks a server for nothing else.

httpx, with what it imports, takes longer to load than the rest of `run` takes to start the
command (bench/cli_bench.py), and `run` sits in front of every process start. The reader follows
the SDK's rules (``client/wire.py``): the same addresses refused, the same CAs trusted (the
``ca_bundle``, else the environment's trust store or certifi's, as httpx), certificates and host
names verified, the same timeout, the same errors for the same answers, pages walked the same
way. What it leaves to the SDK: a workload's JWT login, and proxies named in the environment
(httpx honours them; `run` takes the SDK then, cli/run_source.py).
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

from stacksafe.client.fields import Fields, array
from stacksafe.client.wire import (
    USER_AGENT,
    api_base,
    bearer_header,
    error_of,
    paged,
    parsed_json,
    path_segment,
    trusting,
    unreachable,
)
from stacksafe.model import SecretValue

__all__ = ["LightReader"]


def _default_trust(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """What httpx trusts when it is given no CA: ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``,
    else certifi's CAs."""
    if cert_file:
        return ssl.create_default_context(cafile=cert_file)
    if cert_dir:
        return ssl.create_default_context(capath=cert_dir)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class LightReader:
    """One connection to ``{address}/api/3`` with ``token``: the stacks of a name, and a
    stack's revealed values. Without ``ca_bundle``, ``cert_file`` and ``cert_dir`` are the
    environment's ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` (``ClientSettings``)."""

    def __init__(
        self,
        address: str,
        token: str,
        *,
        ca_bundle: str | None,
        cert_file: str | None = None,
        cert_dir: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base = api_base(address)
        parts = urlsplit(self.base)
        context = trusting(ca_bundle) if ca_bundle else None
        host, port = parts.hostname or "", parts.port
        self._connection: http.client.HTTPConnection
        if parts.scheme == "https":
            trust = context or _default_trust(cert_file, cert_dir)
            self._connection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=trust
            )
        else:
            self._connection = http.client.HTTPConnection(host, port, timeout=timeout)
        self._path = parts.path
        self._headers = {"User-Agent": USER_AGENT, "Authorization": bearer_header(token)}

    def __repr__(self) -> str:
        return f"LightReader({self.base!r})"

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> LightReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _get(self, path: str, params: Mapping[str, Any]) -> object:
        """The JSON of ``GET path?params``; an error answer raised as the server raised it."""
        try:
            self._connection.request(
                "GET", f"{self._path}{path}?{urlencode(params)}", headers=self._headers
            )
            response = self._connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise unreachable(self.base, exc) from None
        if response.status >= 400:
            retry_after = response.getheader("retry-after") or ""
            raise error_of(response.status, lambda: json.loads(body), retry_after)
        return parsed_json(lambda: json.loads(body))

    def stack_uids(self, name: str, account: str | None) -> list[tuple[str, str]]:
        """(uid, account name) of each stack called ``name`` the token may see (in
        ``account``, a uid or name, when given): ``Client.stacks(name=..., account=...)``."""
        params = {"filter_name": name}
        if account is not None:
            params["account_id"] = account
        found = []
        for body in paged(lambda query: self._get("/stacks", query), params):
            for item in array(body.raw("response"), "ListEnvelope.response"):
                stack = Fields(item, "Stack")
                found.append((stack.text("uid"), stack.text("account_name")))
        return found

    def revealed(
        self, stack_uid: str, *, resolve: bool, purpose: str
    ) -> list[tuple[str, SecretValue | None]]:
        """Each key of the stack's effective set with its value (None: a broken reference),
        as ``Client.list_secrets(stack=..., reveal=True)`` reads them."""
        path = f"/stacks/{path_segment(stack_uid)}/secrets"
        params = {"reveal": "true", "resolve": str(resolve).lower(), "purpose": purpose}
        found = []
        for body in paged(lambda query: self._get(path, query), params):
            for item in array(body.raw("response"), "ListEnvelope.response"):
                secret = Fields(item, "Secret")
                found.append((secret.text("key"), secret.secret_or_none("raw_value")))
        return found
