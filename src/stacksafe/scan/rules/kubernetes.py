"""Kubernetes Secret manifests (``data:``/``stringData:`` values) and kubeconfig client keys.

A Secret's values are base64 (``data``) or plain (``stringData``) under a key that says nothing:
what makes them secret is the manifest's ``kind: Secret``, which may come before or after the
``data`` block (``kubectl get -o yaml`` sorts keys, so ``data`` comes first). The rule is
anchored on ``apiVersion:``, the first line of every manifest, and looks ahead (within the
same document, up to ``---``) for both ``kind: Secret`` and the first value that is long enough
to be a secret; templates (``{{ .Values.x }}``) and empty values are not reported.
"""

from __future__ import annotations

import re

from stacksafe.scan.rules.jwt import decode_part
from stacksafe.scan.rules.model import Rule

__all__ = ["RULES"]

# One document: anything but a "---" separator line.
_DOC = r"(?:(?!^---)[\s\S])"


def _secret_value(secret: str) -> bool:
    """A value (after a block scalar's ``|``/``>``) that decodes to something, not a template."""
    value = secret.lstrip("|>+- \t\r\n")
    decoded = decode_part(value.replace("+", "-").replace("/", "_").rstrip("="))
    if decoded is None:
        return False
    text = decoded.decode("utf-8", errors="replace").strip()
    # "admin:password" (the documentation's) is still reported: it is in a Secret.
    return len(text) >= 4 and not text.startswith(("{{", "${"))


RULES: tuple[Rule, ...] = (
    Rule(
        id="kubernetes-secret",
        description="Kubernetes Secret manifest value",
        keywords=("apiversion:",),
        pattern=re.compile(
            rf"^\s*[\"']?apiVersion[\"']?:[^\n]*\n"
            rf"(?={_DOC}{{0,4000}}?^\s*[\"']?kind[\"']?:\s*[\"']?[Ss]ecret[\"']?\s*$)"
            rf"{_DOC}{{0,4000}}?^\s*[\"']?(?:data|stringData)[\"']?:\s*\n"
            # Lines of the block (indented or comments) before the value.
            r"(?:[ \t]+[^\n]*\n){0,30}?"
            # A block scalar's value is on the next line: the secret starts at its "|" or ">",
            # so the finding is on the key's line.
            r"[ \t]+[\"']?[\w.\-]+[\"']?:[ \t]*[\"']?"
            r"(?P<secret>(?:[|>][+-]?[ \t]*\n[ \t]+)?[A-Za-z0-9+/]{12,}={0,2})[\"']?[ \t]*$",
            re.MULTILINE,
        ),
        check=_secret_value,
        placeholders=False,
        lines=120,
    ),
    Rule(
        id="kubeconfig-client-key",
        description="Kubernetes kubeconfig client key",
        keywords=("client-key-data:",),
        # A kubeconfig user's key: a PEM private key, base64 again ("LS0t" is "---").
        # (A kubeconfig ``token:`` is the secret-keyword rule's.)
        pattern=re.compile(r"client-key-data:\s*[\"']?(?P<secret>LS0t[A-Za-z0-9+/]{60,}={0,2})"),
        min_entropy=4.0,
    ),
)
