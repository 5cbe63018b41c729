"""The client's configuration: remote mode (the server's address, the token or a workload's
login, the CA), what HTTP clients take from the environment, and the CLI's own switches.

Apart from the server's settings (``settings/installation.py``): `stacksafe run` reads only
these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CREDENTIAL_VARIABLES", "ClientSettings"]

# stacksafe's own variables that hold a credential, point at one, or aim one at a server: what
# `stacksafe run` keeps from the command it starts unless told otherwise (cli/child_env.py). The
# token and the server address (which without the token only half-configures remote mode), the
# master key and every way of giving it, the offline snapshot's passphrase, and the database URL
# (it may hold a password). Paths that are not secrets (STACKSAFE_DATA_DIR, STACKSAFE_CA_BUNDLE,
# STACKSAFE_MASTER_KEY_PARAMS_FILE) and tuning settings stay.
CREDENTIAL_VARIABLES = frozenset(
    {
        "STACKSAFE_TOKEN",
        "STACKSAFE_ADDR",
        # A workload's login: the JWT's file and the role it logs in as.
        "STACKSAFE_JWT_FILE",
        "STACKSAFE_JWT_ROLE",
        "STACKSAFE_MASTER_KEY",
        "STACKSAFE_MASTER_KEY_FILE",
        "STACKSAFE_MASTER_KEY_PASSPHRASE",
        "STACKSAFE_MASTER_KEY_PASSPHRASE_FILE",
        "STACKSAFE_FALLBACK_PASSPHRASE",
        "STACKSAFE_DATABASE_URL",
    }
)

# The proxies httpx reads of the environment (urllib's getproxies: any case).
_PROXIES = frozenset({"http_proxy", "https_proxy", "all_proxy"})


@dataclass(frozen=True)
class ClientSettings:
    """Remote mode and the CLI's own switches: ``STACKSAFE_ADDR`` set means the commands go to
    that server with ``STACKSAFE_TOKEN`` (``STACKSAFE_CA_BUNDLE``: a private CA's bundle);
    ``STACKSAFE_FALLBACK_PASSPHRASE`` seals `run --fallback`'s snapshot (else the token does);
    ``STACKSAFE_DATA_DIR`` for `run`'s fast path; ``STACKSAFE_DEBUG`` shows tracebacks;
    ``STACKSAFE_JWT_ROLE`` and ``STACKSAFE_JWT_FILE``: log in with a workload's JWT instead of
    a token. What HTTP clients take from the environment (httpx's ``trust_env``): the trust
    store (``SSL_CERT_FILE``, ``SSL_CERT_DIR``), which `run`'s light reader honours as httpx
    does, and whether a proxy is named (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, in
    either case): the light reader takes none, so `run` leaves its request to the SDK then
    (cli/run_source.py)."""

    address: str | None = None
    token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    fallback_passphrase: str | None = field(default=None, repr=False)
    data_dir: Path | None = None
    debug: bool = False
    # A workload logs in with its JWT instead of a token (docs/identity.md).
    jwt_role: str | None = None
    jwt_file: str | None = None
    ssl_cert_file: str | None = None
    ssl_cert_dir: str | None = None
    proxied: bool = False

    @property
    def remote(self) -> bool:
        return bool(self.address)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> ClientSettings:
        env = os.environ if environ is None else environ
        data_dir = env.get("STACKSAFE_DATA_DIR")
        return cls(
            address=env.get("STACKSAFE_ADDR") or None,
            token=env.get("STACKSAFE_TOKEN") or None,
            ca_bundle=env.get("STACKSAFE_CA_BUNDLE") or None,
            fallback_passphrase=env.get("STACKSAFE_FALLBACK_PASSPHRASE") or None,
            data_dir=Path(data_dir) if data_dir else None,
            debug=bool(env.get("STACKSAFE_DEBUG")),
            jwt_role=env.get("STACKSAFE_JWT_ROLE") or None,
            jwt_file=env.get("STACKSAFE_JWT_FILE") or None,
            ssl_cert_file=env.get("SSL_CERT_FILE") or None,
            ssl_cert_dir=env.get("SSL_CERT_DIR") or None,
            proxied=any(value and name.lower() in _PROXIES for name, value in env.items()),
        )
