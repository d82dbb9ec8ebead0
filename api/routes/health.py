"""Liveness and readiness, for load balancers and orchestrators (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from reshore.api import db
from reshore.api.deps import SettingsDep
from reshore.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "a check failed"}})
async def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    """Readiness: the store answers and can be written, its schema is current and the
    executor can run jobs."""

    def checks() -> dict[str, str]:
        found: dict[str, str] = {}
        try:
            db.ping(settings.database_url)
        except Exception as error:
            found["database"] = f"unreachable: {db.fault_reason(error)}"
        else:
            try:
                db.probe_write(settings.database_url)
                found["database"] = "ok"
            except Exception as error:
                found["database"] = f"not writable: {db.fault_reason(error)}"
            found["schema"] = "ok" if db.schema_is_current(settings.database_url) else (
                "not at the newest migration")
        executor = getattr(request.app.state, "executor", None)
        found["executor"] = executor.check() if executor is not None else "not started"
        return found

    found = await run_in_threadpool(checks)
    ready = all(value == "ok" for value in found.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=found)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
