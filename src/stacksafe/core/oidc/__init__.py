"""People sign in to the web UI with OpenID Connect (docs/identity.md, "People: single sign-on").

``provider``: the server owner's configuration (discovery, the sealed client secret, group
roles); ``flow``: the authorization code flow with PKCE, ``state`` and ``nonce``; ``tokens``:
the code exchanged at the token endpoint and the ID token checked (crypto.jwt, the workload
logins' keys and checks); ``people``: the user matched or created by verified email, and their
groups' account roles applied at every sign-in.
"""
