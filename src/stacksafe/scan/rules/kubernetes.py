"""Kubernetes Secret manifests (``data:``/``stringData:`` values) and kubeconfig client keys.

A Secret's values are base64 (``data``) or plain (``stringData``) under a key that says nothing:
what makes them secret is the manifest's ``kind: Secret``, which may come before or after the
``data`` block (``kubectl get -o yaml`` sorts keys, so ``data`` comes first). The rule is
anchored on ``apiVersion:``, the first line of every manifest, and looks ahead (within the
same document, up to ``---``) for both ``kind: Secret`` and the first value that is long enough
to be a secret; values that decode to a placeholder are not reported.
"""

from __future__ import annotations

import re

from stacksafe.scan.placeholders import is_placeholder
from stacksafe.scan.rules.jwt import decode_part
from stacksafe.scan.rules.model import Rule

__all__ = ["RULES"]

# One document: anything but a "---" separator line.
_DOC = r"(?:(?!^---)[\s\S])"


def _secret_value(secret: str) -> bool:
    """A base64 value decoding to a non-placeholder, or a plain (stringData) value."""
    decoded = decode_part(secret.replace("+", "-").replace("/", "_").rstrip("="))
    if decoded is not None:
        try:
            text = decoded.decode("utf-8")
        except UnicodeDecodeError:
            return True  # binary: key material, a keystore
        return len(text.strip()) >= 4 and not is_placeholder(text.strip())
    return not is_placeholder(secret)


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
            r"[ \t]+[\"']?[\w.\-]+[\"']?:[ \t]*(?:[|>][+-]?[ \t]*\n[ \t]+)?[\"']?"
            r"(?P<secret>[A-Za-z0-9+/]{12,}={0,2})[\"']?[ \t]*$",
            re.MULTILINE,
        ),
        check=_secret_value,
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
