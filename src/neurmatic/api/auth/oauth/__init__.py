"""Sign-in with Google, LinkedIn and GitHub: OAuth 2.0 authorization code with ``state`` and PKCE (S256).

``providers`` says where each provider's endpoints are, ``state`` keeps the single-use state of a
sign-in in Redis, ``client`` speaks the providers' HTTP protocols, ``idtoken`` checks OpenID Connect ID
tokens, ``accounts`` links a provider identity to a user, ``service`` runs the flow and ``router``
exposes it under ``/api/v1/auth/oauth/{provider}``.
"""
