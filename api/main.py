"""The FastAPI application: routers, limits, error bodies, OpenAPI and the executor's life.

    uvicorn reshore.api.main:app            # or: reshore serve
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InternalError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reshore.api import db
from reshore.api.config import Settings, get_settings
from reshore.api.dispatcher import Dispatcher
from reshore.api.executors import make_executor
from reshore.api.instances import InputErrorsError, figure_limits
from reshore.api.routes import (
    analyses,
    datasets,
    health,
    jobs,
    schedules,
    validate,
    webhooks,
    whatif,
)
from reshore.api.scheduler import Scheduler
from reshore.optimizer.schema import Network

log = logging.getLogger("reshore.api")


class BodyLimit:
    """Answer 413 to a request body above `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(send)
            return
        seen = 0
        too_large = False
        answered = False

        async def limited() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    too_large = True
                    raise _TooLargeError
            return message

        async def guarded(message: Message) -> None:
            # the framework turns a failed body read into its own 400: answer 413 instead
            nonlocal answered
            if too_large:
                if not answered:
                    answered = True
                    await self._reject(send)
                return
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except Exception:
            if not too_large:
                raise
            if not answered:
                answered = True
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"detail": f"the request body exceeds {self.limit:,} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLargeError(Exception):
    pass


async def _invalid_request(_request: Request, error: Exception) -> JSONResponse:
    """422 naming every bad field (without echoing the input back)."""
    assert isinstance(error, RequestValidationError)
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in error.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def _input_errors(_request: Request, error: Exception) -> JSONResponse:
    """422 with the first errors of an instance and the count of each kind."""
    assert isinstance(error, InputErrorsError)
    return JSONResponse(error.body(), status_code=422)


async def _store_fault(_request: Request, error: Exception) -> JSONResponse:
    """503 when the store refuses a read or a write (unreachable, read-only, full): the
    reason in one line, the statement and its traceback to the server log only."""
    log.error("the job store failed: %s", db.fault_reason(error), exc_info=error)
    return JSONResponse({"detail": "the job store cannot be used right now"
                         f" ({db.fault_reason(error)}); try again later"},
                        status_code=503, headers={"Retry-After": "5"})


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document plus the data contract's schemas (`Network` and its rows)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes, tags=app.openapi_tags)
    contract = Network.model_json_schema(ref_template="#/components/schemas/{model}")
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in {**contract.pop("$defs", {}), "Network": contract}.items():
        if name in components:
            raise RuntimeError(f"schema name {name} is used twice in the OpenAPI document")
        components[name] = schema
    app.openapi_schema = document
    return document


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def create_app(settings: Settings | None = None, *, start_executor: bool = True) -> FastAPI:
    """The application; with `start_executor` its lifespan runs the executor and dispatcher."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await run_in_threadpool(db.migrate, settings.database_url)
        if start_executor:
            dispatcher_ref: list[Dispatcher] = []
            executor = make_executor(settings, lambda: dispatcher_ref[0].wake()
                                     if dispatcher_ref else None)
            executor.start()
            dispatcher = Dispatcher(settings, executor)
            dispatcher_ref.append(dispatcher)
            await run_in_threadpool(dispatcher.start)
            app.state.executor, app.state.dispatcher = executor, dispatcher
            scheduler = Scheduler(settings.database_url, settings.schedule_interval_s,
                                  settings.max_time_limit_s, dispatcher.wake,
                                  tick_hold_s=settings.schedule_tick_hold_s,
                                  limits=figure_limits(settings))
            scheduler.start()
            app.state.scheduler = scheduler
            log.info("reshore is ready: %s executor, store %s", executor.name,
                     db.engine_for(settings.database_url).url.render_as_string(
                         hide_password=True))
        try:
            yield
        finally:
            if start_executor:
                app.state.scheduler.stop()
                app.state.dispatcher.stop()
                await run_in_threadpool(app.state.executor.stop)
            log.info("reshore stopped")

    app = FastAPI(
        title="reshore",
        version="0.1.0",
        description="Supply-chain network design under tariff risk, as a job service: submit"
        " an instance (or a stored dataset), follow the job, fetch the plan.",
        lifespan=lifespan,
        openapi_tags=[
            {"name": "jobs", "description": "solve jobs"},
            {"name": "datasets", "description": "stored, versioned instances"},
            {"name": "validate", "description": "check an instance without solving"},
            {"name": "schedules", "description": "replans of a dataset on a cron schedule"},
            {"name": "webhooks", "description": "signed notifications when a job ends"},
            {"name": "health", "description": "liveness and readiness"}],
    )
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(InputErrorsError, _input_errors)
    for fault in (OperationalError, InternalError):
        app.add_exception_handler(fault, _store_fault)
    v1 = APIRouter(prefix="/v1")
    v1.include_router(jobs.router)
    v1.include_router(datasets.router)
    v1.include_router(validate.router)
    v1.include_router(schedules.router)
    v1.include_router(webhooks.router)
    v1.include_router(whatif.router)
    v1.include_router(whatif.reports)
    v1.include_router(analyses.router)
    app.include_router(v1)
    app.include_router(health.router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def app_from_environment() -> FastAPI:
    """For `uvicorn --factory reshore.api.main:app_from_environment`."""
    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        db.open_store(settings.database_url, settings.migrate_on_start)
    except db.StoreUnusableError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    return create_app(settings)
