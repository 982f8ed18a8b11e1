"""Auditor and admin bearer tokens: created once, stored only as a SHA-256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from . import clock
from .extensions import db
from .models import ApiToken, Site

TOKEN_PREFIX = "cmp_"
# What each role may do. Auditors read the log; admins also act on one visitor's consent.
ROLE_PERMISSIONS = {
    "auditor": frozenset({"export", "stats"}),
    "admin": frozenset({"export", "stats", "read_consent", "erase_consent"}),
}
ROLES = tuple(ROLE_PERMISSIONS)


class TokenError(ValueError):
    """A token cannot be created or revoked as asked."""


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed and as seen by an authorised request (never the secret itself)."""

    id: int
    role: str
    site_key: str | None
    label: str | None
    revoked: bool

    def allows(self, permission: str, site_key: str) -> bool:
        """True when this token's role grants ``permission`` on ``site_key``."""
        in_scope = self.site_key is None or self.site_key == site_key
        return in_scope and permission in ROLE_PERMISSIONS.get(self.role, frozenset())


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256 (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(role: str, site_key: str | None = None, label: str | None = None
                 ) -> tuple[TokenInfo, str]:
    """Create a token; returns it with its secret, which is shown this once and kept nowhere.

    :raises TokenError: for an unknown role or site.
    """
    if role not in ROLE_PERMISSIONS:
        raise TokenError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    site_id = None
    if site_key is not None:
        site_id = db.session.scalar(sa.select(Site.id).where(Site.key == site_key))
        if site_id is None:
            raise TokenError(f"no site with key {site_key!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=token_digest(secret), role=role, site_id=site_id, label=label,
                   created_at=clock.now())
    db.session.add(row)
    db.session.commit()
    return TokenInfo(row.id, role, site_key, label, False), secret


def _infos(condition: sa.ColumnElement[bool] | None = None) -> list[TokenInfo]:
    query = (sa.select(ApiToken.id, ApiToken.role, Site.key, ApiToken.label, ApiToken.revoked_at)
             .outerjoin(Site, Site.id == ApiToken.site_id).order_by(ApiToken.id))
    if condition is not None:
        query = query.where(condition)
    return [TokenInfo(r.id, r.role, r.key, r.label, r.revoked_at is not None)
            for r in db.session.execute(query)]


def list_tokens() -> list[TokenInfo]:
    """Every token, revoked ones included."""
    return _infos()


def revoke_token(token_id: int) -> TokenInfo:
    """Revoke a token for good.

    :raises TokenError: when there is no such token.
    """
    db.session.execute(
        sa.update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now()))
    db.session.commit()
    found = _infos(ApiToken.id == token_id)
    if not found:
        raise TokenError(f"no token with id {token_id}")
    return found[0]


def authenticate(token: str) -> TokenInfo | None:
    """The live token matching ``token``, or None for an unknown or revoked one."""
    found = _infos(sa.and_(ApiToken.token_hash == token_digest(token),
                           ApiToken.revoked_at.is_(None)))
    return found[0] if found else None
