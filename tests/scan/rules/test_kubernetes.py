"""Kubernetes Secret manifests and kubeconfig client keys (rules/kubernetes.py)."""

from __future__ import annotations

import base64

from tests.scan.rules.helpers import fake, found

VALUE = base64.b64encode(fake(30, 24).encode()).decode()


def test_a_secret_value_after_kind_is_found() -> None:
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\n"
        f"data:\n  username: YWRtaW4=\n  password: {VALUE}\n"
    )
    assert found(text) == [("kubernetes-secret", 8, 13)]


def test_a_block_scalar_is_found_at_its_key() -> None:
    text = f"apiVersion: v1\nkind: Secret\ndata:\n  .dockercfg: |\n    {VALUE}\n"
    assert found(text) == [("kubernetes-secret", 4, 15)]


def test_a_secret_value_before_kind_is_found() -> None:
    text = f"apiVersion: v1\ndata:\n  password: '{VALUE}'\nkind: Secret\nmetadata:\n  name: x\n"
    assert found(text) == [("kubernetes-secret", 3, 14)]


def test_other_kinds_empty_values_and_templates_are_not_found() -> None:
    config_map = f"apiVersion: v1\nkind: ConfigMap\ndata:\n  settings: {VALUE}\n"
    empty = "apiVersion: v1\nkind: Secret\ndata:\n  htpasswd: ''\n"
    template = "apiVersion: v1\nkind: Secret\ndata:\n  htpasswd: {{ htpasswd }}\n"
    # A Secret in the next document does not make this one's data secret.
    other_document = f"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: {VALUE}\n---\nkind: Secret\n"
    for text in (config_map, empty, template, other_document):
        assert found(text) == [], text


def test_a_kubeconfig_client_key_is_found() -> None:
    key = base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\n" + fake(31, 90).encode()).decode()
    text = f"users:\n- name: admin\n  user:\n    client-key-data: {key}\n"
    assert found(text) == [("kubeconfig-client-key", 4, 22)]
