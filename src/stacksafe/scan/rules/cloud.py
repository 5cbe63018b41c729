"""Keys of the large clouds: AWS, Google Cloud, Azure, Alibaba Cloud, IBM Cloud (and SoftLayer,
Cloudant), Yandex Cloud.

Facts from the issuers: AWS access key ids are ``AKIA`` (long-term), ``ASIA`` (temporary) and a
few rarer prefixes with 16 upper-case base32 characters, the secret key 40 base64 characters
(recognised only next to its name), Bedrock API keys ``ABSK...`` or ``bedrock-api-key-...``;
Google API keys ``AIza`` + 35, OAuth client secrets ``GOCSPX-``, access tokens ``ya29.``,
refresh tokens ``1//0``; Azure AD client secrets carry ``<digit>Q~`` at their fourth character,
storage account keys are 88 base64 characters after ``AccountKey=``, and Azure's newer
identifiable keys hold the ``JQQJ9`` signature at character 53; Alibaba AccessKey ids start
``LTAI``; Yandex API keys ``AQVN``, static key secrets ``YC``, IAM tokens ``t1.``.
"""

from __future__ import annotations

import re

from stacksafe.scan.rules.checks import counting_run
from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES"]


def _not_dna(key_id: str) -> bool:
    """Upper-case runs of A, C, G and T are DNA sequences (ACCA..., which an entropy floor
    would catch at the cost of test ids such as AKIAZZZZ...); counting runs are typed."""
    return not set(key_id[4:]) <= set("ACGT") and not counting_run(key_id)


_AWS = (
    token(
        "aws-access-key",
        "AWS access key id",
        ["akia", "asia", "abia", "acca", "a3t"],
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",
        check=_not_dna,
    ),
    keyed(
        "aws-secret-access-key",
        "AWS secret access key",
        (
            "aws_secret",
            "aws-secret",
            "awssecret",
            "secretaccesskey",
            "secret_access_key",
            "secret-access-key",
        ),
        r"[A-Za-z0-9/+]{40}",
        min_entropy=3.5,
    ),
    keyed(
        "aws-session-token",
        "AWS session token",
        ("aws_session_token", "aws-session-token", "awssessiontoken", "x-amz-security-token"),
        r"[A-Za-z0-9/+]{100,2000}={0,2}",
        min_entropy=4.0,
    ),
    token(
        "aws-bedrock-api-key",
        "Amazon Bedrock API key (long-term)",
        ["absk"],
        r"ABSK[A-Za-z0-9+/]{109,269}={0,2}",
        min_entropy=3.5,
    ),
    token(
        "aws-bedrock-api-key-short-lived",
        "Amazon Bedrock API key (short-term)",
        ["bedrock-api-key-"],
        # The short-term key encodes a presigned URL: base64 of "bedrock.amazonaws.com/...".
        r"bedrock-api-key-(?:YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%]*|[A-Za-z0-9+/]{30,2000}={0,2})",
        min_entropy=3.5,
    ),
    token(
        "aws-appsync-api-key",
        "AWS AppSync API key",
        ["da2-"],
        r"da2-[a-z0-9]{26}",
        min_entropy=3.0,
    ),
    token(
        "aws-mws-key",
        "Amazon Marketplace Web Service auth token",
        ["amzn.mws."],
        r"amzn\.mws\.[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}",
        min_entropy=3.0,
    ),
)

_GOOGLE = (
    token(
        "gcp-api-key",
        "Google API key",
        ["aiza"],
        r"AIza[0-9A-Za-z_\-]{35}",
        min_entropy=3.5,
    ),
    token(
        "gcp-oauth-client-secret",
        "Google OAuth client secret",
        ["gocspx-"],
        r"GOCSPX-[0-9A-Za-z_\-]{28}",
        min_entropy=3.0,
    ),
    token(
        "gcp-oauth-access-token",
        "Google OAuth access token",
        ["ya29."],
        r"ya29\.[0-9A-Za-z_\-]{30,2000}",
        min_entropy=3.5,
    ),
    token(
        "gcp-oauth-refresh-token",
        "Google OAuth refresh token",
        ["1//0"],
        r"1//0[0-9A-Za-z_\-]{40,500}",
        min_entropy=3.5,
    ),
)

_AZURE = (
    Rule(
        id="azure-ad-client-secret",
        description="Azure AD (Entra ID) client secret",
        # The digit before "Q~" makes the keyword long enough to be rare.
        keywords=tuple(f"{digit}q~" for digit in range(10)),
        # "~" and "." belong to the secret's alphabet: neither may continue it on either side.
        pattern=re.compile(
            r"(?<![A-Za-z0-9_~.\-])(?P<secret>[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})"
            r"(?![A-Za-z0-9_~.\-])"
        ),
        min_entropy=3.0,
    ),
    keyed(
        "azure-ad-client-secret-legacy",
        "Azure AD client secret (legacy, unprefixed)",
        ("azure",),
        r"[A-Za-z0-9_~.\-/+]{32,44}={0,2}",
        name=r"azure[\w.\-]{0,20}?(?:client|app)[\w.\-]{0,3}?(?:secret|password)",
        min_entropy=3.5,
    ),
    keyed(
        "azure-storage-account-key",
        "Azure storage account or shared access key",
        ("accountkey", "sharedaccesskey", "azure_storage_key", "azure_storage_account_key"),
        r"[A-Za-z0-9+/]{86}==|[A-Za-z0-9+/]{43}=",
        min_entropy=4.0,
    ),
    token(
        "azure-identifiable-key",
        "Azure identifiable key (storage, DevOps, Cosmos DB, function...)",
        ["jqqj9"],
        r"[A-Za-z0-9]{52}JQQJ9[9DH][A-Za-z0-9]{18,30}={0,2}",
        min_entropy=3.5,
    ),
    keyed(
        "azure-sas-signature",
        "Azure shared access signature",
        ("sig=",),
        r"[A-Za-z0-9%+/]{43,90}(?:%3[Dd]|=)?",
        name=r"[?&;]sig(?==)",
        min_entropy=4.0,
    ),
    keyed(
        "azure-devops-pat",
        "Azure DevOps personal access token (legacy)",
        ("azure_devops", "azuredevops", "azure-devops", "ado_pat", "ado_token", "vsts"),
        r"[a-z2-7]{52}",
        min_entropy=3.5,
    ),
)

_OTHERS = (
    token(
        "alibaba-access-key-id",
        "Alibaba Cloud AccessKey id",
        ["ltai"],
        r"LTAI[A-Za-z0-9]{12,20}",
        min_entropy=3.0,
    ),
    keyed(
        "alibaba-secret-key",
        "Alibaba Cloud AccessKey secret",
        ("alibaba", "aliyun", "alicloud"),
        r"[A-Za-z0-9]{30}",
        min_entropy=3.0,
    ),
    keyed(
        "ibm-cloud-api-key",
        "IBM Cloud API key",
        ("ibm", "cloud_iam", "cloud-iam", "iam_api_key", "iam-api-key", "cloud_api", "cloud-api"),
        r"[A-Za-z0-9_\-]{44}",
        name=(
            r"ibm[\w.\-]{0,20}?(?:key|password|pwd)|cloud[_\-]iam[\w.\-]{0,10}?key"
            r"|iam[_\-]api[_\-]key|cloud[_\-]api[_\-]?key"
        ),
        min_entropy=3.5,
    ),
    keyed(
        "softlayer-api-key",
        "IBM Cloud classic (SoftLayer) API key",
        ("softlayer", "sl_", "sl-", "slapi"),
        r"[a-z0-9]{64}",
        # "sl" alone must start a name: "ssl_key" is no SoftLayer key.
        name=(
            r"softlayer[\w.\-]{0,20}?(?:key|password|pwd)"
            r"|(?<![A-Za-z])sl[_\-]?(?:api[_\-]?key|apikey|key|pass|pwd)"
        ),
        min_entropy=2.5,
    ),
    Rule(
        id="softlayer-api-key-url",
        description="IBM Cloud classic (SoftLayer) API key in an API URL",
        keywords=("api.softlayer.com/",),
        pattern=re.compile(
            r"api\.softlayer\.com/(?:soap|rest)/v3(?:\.1)?/(?P<secret>[a-z0-9]{64})(?![A-Za-z0-9])"
        ),
        min_entropy=2.5,
    ),
    keyed(
        "cloudant-password",
        "IBM Cloudant password or API key",
        ("cloudant", "clou_", "clou-"),
        r"[0-9a-f]{64}",
        name=r"(?:cloudant|clou)[_\-]?(?:api[_\-]?)?(?:key|pwd|pw|password|pass|token)",
        min_entropy=2.5,
    ),
    token(
        "yandex-api-key",
        "Yandex Cloud API key",
        ["aqvn"],
        r"AQVN[A-Za-z0-9_\-]{35,38}",
        min_entropy=3.5,
    ),
    keyed(
        "yandex-aws-access-token",
        "Yandex Cloud static access key secret",
        ("yandex",),
        r"YC[A-Za-z0-9_\-]{38}",
        min_entropy=3.5,
    ),
    keyed(
        "yandex-access-token",
        "Yandex Cloud IAM token",
        ("yandex",),
        r"t1\.[A-Za-z0-9_\-]+={0,2}\.[A-Za-z0-9_\-]{86}={0,2}",
        min_entropy=3.5,
    ),
)

RULES: tuple[Rule, ...] = (*_AWS, *_GOOGLE, *_AZURE, *_OTHERS)
