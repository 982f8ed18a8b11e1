"""Bearer-token checks of the admin API: 401 for no, unknown or revoked tokens, 403 for scope."""

from __future__ import annotations

from .. import admin_tokens
from ..errors import Problem
from .edge import bearer_token

REALM = 'Bearer realm="cmp-admin"'


def require_token(site_key: str, permission: str) -> admin_tokens.TokenInfo:
    """The request's token, allowed ``permission`` on ``site_key``, or a 401/403 problem."""
    token = bearer_token()
    if not token:
        raise Problem(401, "An auditor or admin token is needed as Authorization: Bearer.",
                      slug="token-required", headers={"WWW-Authenticate": REALM})
    info = admin_tokens.authenticate(token)
    if info is None:
        raise Problem(401, "This token is unknown or revoked.", slug="invalid-token",
                      headers={"WWW-Authenticate": REALM + ', error="invalid_token"'})
    if not info.allows(permission, site_key):
        raise Problem(403, f"This token may not {permission.replace('_', ' ')} on this site.",
                      slug="forbidden",
                      headers={"WWW-Authenticate": REALM + ', error="insufficient_scope"'})
    return info
