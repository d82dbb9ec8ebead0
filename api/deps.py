"""Dependencies of the routes, as `Annotated` aliases."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session

from reshore.api import db
from reshore.api.config import Settings
from reshore.api.dispatcher import Dispatcher
from reshore.api.security import tenant_of


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_db(settings: SettingsDep) -> Iterator[Session]:
    with db.session_scope(settings.database_url) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db, scope="function")]
"""A request's session, committed when the route returns and before the answer is sent: a
client that reads right after a 201 sees what it created (FastAPI's default scope would end
the session only after the answer went out)."""

bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer rsk_...`")


class AuthFailures:
    """Failed authentications per client address, in a moving one-minute window (kept in
    this server process)."""

    def __init__(self, per_minute: int) -> None:
        self.limit = parse(f"{per_minute}/minute")
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def blocked(self, client: str) -> int | None:
        """Seconds until `client` may try again, or None when it may now."""
        if self.limiter.test(self.limit, client):
            return None
        reset = self.limiter.get_window_stats(self.limit, client).reset_time
        return max(1, math.ceil(reset - time.time()))

    def failed(self, client: str) -> None:
        self.limiter.hit(self.limit, client)


def auth_failures(request: Request) -> AuthFailures:
    failures: AuthFailures | None = getattr(request.app.state, "auth_failures", None)
    if failures is None:
        failures = AuthFailures(request.app.state.settings.auth_failures_per_minute)
        request.app.state.auth_failures = failures
    return failures


def get_tenant(request: Request, session: SessionDep,
               credentials: Annotated[HTTPAuthorizationCredentials | None,
                                      Depends(bearer)]) -> str:
    """The tenant of the bearer key; 401 without a valid key, 429 for a client that failed
    too often in the last minute."""
    failures = auth_failures(request)
    client = request.client.host if request.client else "unknown"
    wait = failures.blocked(client)
    if wait is not None:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            "too many failed authentications from this address; try again"
                            f" in {wait} s", headers={"Retry-After": str(wait)})
    tenant = tenant_of(session, credentials.credentials) if credentials else None
    session.commit()  # end the lookup's transaction: SQLite holds its lock per transaction
    if tenant is None:
        failures.failed(client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid API key is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]


def get_dispatcher(request: Request) -> Dispatcher | None:
    dispatcher: Dispatcher | None = getattr(request.app.state, "dispatcher", None)
    return dispatcher


DispatcherDep = Annotated[Dispatcher | None, Depends(get_dispatcher)]
