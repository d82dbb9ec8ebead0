"""Bearer API keys: `rsk_<key id>_<secret>`. The key id is stored in clear (to find the key and
to list or revoke it); only the SHA-256 of the secret is kept. The secret carries 256 random
bits, so a plain hash is as strong as a slow one and checks in microseconds."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from reshore.api.models import ApiKey, utcnow

PREFIX = "rsk"


@dataclass(frozen=True)
class NewKey:
    key_id: str
    tenant: str
    token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, tenant: str, name: str = "") -> NewKey:
    """Store a new key for `tenant`; the token is returned once and never stored."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(ApiKey(id=key_id, tenant=tenant, name=name, secret_hash=_digest(secret),
                       created_at=utcnow()))
    return NewKey(key_id=key_id, tenant=tenant, token=f"{PREFIX}_{key_id}_{secret}")


def tenant_of(session: Session, token: str) -> str | None:
    """The tenant a token belongs to, or None for an unknown, malformed or revoked token."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[2]:
        return None
    key = session.get(ApiKey, parts[1])
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_hash, _digest(parts[2])):
        return None
    return key.tenant


def list_keys(session: Session, tenant: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if tenant is not None:
        query = query.where(ApiKey.tenant == tenant)
    return list(session.scalars(query))


def revoke_key(session: Session, key_id: str) -> bool:
    """Revoke a key by id; False when there is no such active key."""
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    return True
