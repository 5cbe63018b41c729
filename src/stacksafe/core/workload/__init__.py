"""Workload logins: a CI job or a pod exchanges the JWT its platform gives it (GitHub Actions'
OIDC token, a Kubernetes service-account token, any OIDC issuer's) for a short-lived stacksafe
token narrowed as a role says (docs/identity.md).

``keys`` fetches and keeps issuers' public keys; ``issuers`` and ``roles`` are what the server
owner configures; ``claims`` matches the claims a role binds; ``login`` checks a JWT and issues
the token.
"""
