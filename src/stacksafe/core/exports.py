"""`stacksafe export` formats: what each consumer of secrets reads, written so that consumer's own
parser gives back exactly the values (tests read every format back with that parser).

- ``dotenv`` and ``json``: as ``core.transfer`` writes them (and `secrets import` reads them).
- ``yaml``: a mapping of key to string, every value double-quoted with escapes (PyYAML), so
  line breaks, NEL and other characters YAML folds in plain or single-quoted scalars survive.
- ``shell``: ``export KEY='value'`` lines for ``source`` / ``eval`` in POSIX shells.

``dotenv`` and ``shell`` are sourced by shells: both refuse keys that are not variable names and
the names that would make the shell run code later (``core.transfer.check_sourceable_keys``).
- ``docker-env``: Docker's ``--env-file`` format, ``KEY=value`` taken literally to the end of the
  line: a value with a line break cannot be written, and is refused naming the key.
- ``k8s``: a Kubernetes ``Secret`` manifest (``type: Opaque``) with base64 ``data``.

A format that cannot carry a key or value refuses the whole export naming them: a partial
export that looks complete is worse than none.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Mapping
from typing import Literal, get_args

import yaml

from stacksafe.core.transfer import check_sourceable_keys, render
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = ["EXPORT_FORMATS", "ExportFormat", "k8s_name", "render_export"]

ExportFormat = Literal["dotenv", "json", "yaml", "shell", "docker-env", "k8s"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)

# A DNS-1123 subdomain: what Kubernetes accepts as a Secret's name.
_DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _refuse(keys: list[str], why: str, fmt: str) -> None:
    if keys:
        raise InvalidInput(f"the {fmt} format cannot carry {', '.join(sorted(keys))}: {why}")


def _shell(values: Mapping[str, SecretValue]) -> str:
    check_sourceable_keys(values, "shell")
    return "".join(f"export {k}={shlex.quote(values[k].reveal())}\n" for k in sorted(values))


def _docker_env(values: Mapping[str, SecretValue]) -> str:
    _refuse(
        [k for k, v in values.items() if "\n" in v.reveal() or "\r" in v.reveal()],
        "Docker's env-file format has no way to write a line break in a value",
        "docker-env",
    )
    return "".join(f"{k}={values[k].reveal()}\n" for k in sorted(values))


def _yaml(values: Mapping[str, SecretValue]) -> str:
    data = {k: values[k].reveal() for k in sorted(values)}
    text: str = yaml.safe_dump(
        data, default_style='"', allow_unicode=True, sort_keys=True, width=float("inf")
    )
    return text


def k8s_name(text: str) -> str:
    """``text`` as a Kubernetes object name: lower case, runs of other characters as ``-``."""
    name = re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")[:253].strip("-.")
    if not _DNS_1123.fullmatch(name):
        raise InvalidInput(
            f"{text!r} cannot be made a Kubernetes name; give one with --name "
            "(lower-case letters, digits, '-' and '.')"
        )
    return name


def _k8s(values: Mapping[str, SecretValue], name: str) -> str:
    if not _DNS_1123.fullmatch(name) or len(name) > 253:
        raise InvalidInput(
            f"{name!r} is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')"
        )
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": {
            k: base64.b64encode(values[k].reveal().encode("utf-8")).decode("ascii")
            for k in sorted(values)
        },
    }
    text: str = yaml.safe_dump(manifest, sort_keys=False, width=float("inf"))
    return text


def render_export(
    values: Mapping[str, SecretValue], fmt: str, *, name: str = "stacksafe-secrets"
) -> str:
    """``values`` in format ``fmt``; ``name`` is the k8s Secret's name."""
    if fmt in ("dotenv", "json"):
        return render(values, "json" if fmt == "json" else "dotenv")
    if fmt == "yaml":
        return _yaml(values)
    if fmt == "shell":
        return _shell(values)
    if fmt == "docker-env":
        return _docker_env(values)
    if fmt == "k8s":
        return _k8s(values, name)
    raise InvalidInput(f"format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
