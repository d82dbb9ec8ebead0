"""Dependencies of the routes, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
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


SessionDep = Annotated[Session, Depends(get_db)]

bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer rsk_...`")


def get_tenant(session: SessionDep,
               credentials: Annotated[HTTPAuthorizationCredentials | None,
                                      Depends(bearer)]) -> str:
    """The tenant of the bearer key; 401 without a valid key."""
    tenant = tenant_of(session, credentials.credentials) if credentials else None
    session.commit()  # end the lookup's transaction: SQLite holds its lock per transaction
    if tenant is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid API key is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]


def get_dispatcher(request: Request) -> Dispatcher | None:
    dispatcher: Dispatcher | None = getattr(request.app.state, "dispatcher", None)
    return dispatcher


DispatcherDep = Annotated[Dispatcher | None, Depends(get_dispatcher)]
