"""A running issuer, account ``acme`` with stacks ``web`` and ``api``, the issuer trusted as
``ci`` (its keys by discovery) and a role ``deploy`` bound to GitHub-shaped claims."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.core.workload.issuers import IssuerSource, add_issuer
from stacksafe.core.workload.roles import ClaimBinding, RoleGrant, add_role
from stacksafe.model import Account, SecretValue, Stack
from tests.actors import LOCAL
from tests.jwt_issuer import Issuer, running_issuer


@dataclass
class Site:
    installation: Installation
    issuer: Issuer
    account: Account
    web: Stack
    api: Stack


@pytest.fixture
def site(installation: Installation) -> Iterator[Site]:
    with running_issuer() as issuer:
        account = create_account(installation, LOCAL, "acme")
        web = create_stack(installation, LOCAL, "acme", "web", "production")
        api = create_stack(installation, LOCAL, "acme", "api", "production")
        set_secret(installation, LOCAL, Target(account), "SHARED", SecretValue("shared-v"))
        set_secret(installation, LOCAL, Target(account, web), "WEB_ONLY", SecretValue("web-v"))
        set_secret(installation, LOCAL, Target(account, api), "API_ONLY", SecretValue("api-v"))
        add_issuer(installation, LOCAL, "ci", issuer=issuer.url, source=IssuerSource("discovery"))
        add_role(
            installation,
            LOCAL,
            "deploy",
            issuer="ci",
            audiences=["stacksafe"],
            claims=[
                ClaimBinding("repository", False, ("acme/web",)),
                ClaimBinding("ref", False, ("refs/heads/main",)),
            ],
            grant=RoleGrant(account="acme", role="deployer", stacks=["web"]),
        )
        yield Site(installation, issuer, account, web, api)
