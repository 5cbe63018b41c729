"""The API tests' workload login setup: ``world`` (account ``acme``, stack ``web``) plus stack
``api``, a running issuer trusted as ``ci`` and a role ``deploy`` (GitHub-shaped claims, the
deployer role narrowed to ``web``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.core.workload.issuers import IssuerSource, add_issuer
from stacksafe.core.workload.roles import ClaimBinding, RoleGrant, add_role
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.api.helpers import World
from tests.jwt_issuer import Issuer, running_issuer


@contextmanager
def workload_site(world: World) -> Iterator[tuple[Issuer, str]]:
    """The issuer and the uid of stack ``api``."""
    installation = world.installation
    api = create_stack(installation, LOCAL, "acme", "api", "production")
    set_secret(installation, LOCAL, world.stack_target, "WEB_KEY", SecretValue("web-v"))
    set_secret(installation, LOCAL, Target(world.account, api), "API_KEY", SecretValue("api-v"))
    with running_issuer() as issuer:
        add_issuer(installation, LOCAL, "ci", issuer=issuer.url, source=IssuerSource("discovery"))
        add_role(
            installation,
            LOCAL,
            "deploy",
            issuer="ci",
            audiences=["stacksafe"],
            claims=[ClaimBinding("repository", False, ("acme/web",))],
            grant=RoleGrant(account="acme", role="deployer", stacks=["web"]),
        )
        yield issuer, api.uid
