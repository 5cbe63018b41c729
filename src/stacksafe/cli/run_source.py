"""Where `stacksafe run` reads a stack's values: the light reader (client/light.py: the standard
library's http.client) when that is all it takes, else the backend (the SDK over httpx, or the
local installation).

The light reader is taken in remote mode with a token, when the environment names no proxy
(``ClientSettings.proxied``: httpx honours one, the light reader does not). A JWT login stays
with the SDK, which logs in; `run --watch` too, for the SDK's change stream (cli/run_exec.py).
Either way `run` sends the same reveal with the same purpose, gets the same values and raises
the same errors (tests/cli/test_run_source.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from stacksafe.cli.remote_reads import delivered, printable_purpose, stack_uid_among
from stacksafe.model import SecretValue
from stacksafe.settings import ClientSettings

if TYPE_CHECKING:
    from stacksafe.client.light import LightReader

__all__ = ["Delivers", "LightStack", "light_stack", "run_source"]


class Delivers(Protocol):
    """What `run` needs of a stack: its values and its broken keys (``SecretsBackend`` has it)."""

    def delivery(
        self, purpose: str, resolve: bool = True
    ) -> tuple[dict[str, SecretValue], dict[str, str]]: ...


class LightStack:
    """A stack, by name or uid, read through the light reader."""

    def __init__(self, reader: LightReader, stack: str, account: str | None) -> None:
        self.reader, self.stack, self.account = reader, stack, account

    def delivery(
        self, purpose: str, resolve: bool = True
    ) -> tuple[dict[str, SecretValue], dict[str, str]]:
        uid = stack_uid_among(self.stack, self.reader.stack_uids(self.stack, self.account))
        shown = printable_purpose(purpose)
        return delivered(self.reader.revealed(uid, resolve=resolve, purpose=shown))


def light_stack(settings: ClientSettings, *, stack: str, account: str | None) -> LightStack | None:
    """The stack through the light reader, or None when the SDK must read it."""
    if not settings.address or not settings.token or settings.proxied:
        return None
    from stacksafe.client.light import LightReader

    reader = LightReader(
        settings.address,
        settings.token,
        ca_bundle=settings.ca_bundle,
        cert_file=settings.ssl_cert_file,
        cert_dir=settings.ssl_cert_dir,
    )
    return LightStack(reader, stack, account)


@contextmanager
def run_source(data_dir: Path | None, *, stack: str, account: str | None) -> Iterator[Delivers]:
    """The stack's values, read once: lightly when it can be, else through the backend."""
    light = light_stack(ClientSettings.load(), stack=stack, account=account)
    if light is not None:
        with light.reader:
            yield light
        return
    from stacksafe.cli.backend import secrets_backend

    with secrets_backend(data_dir, account=account, stack=stack) as target:
        yield target
