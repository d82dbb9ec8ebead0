"""Webhooks: a POST to the job's `webhook_url` when a run of the job ends.

The job's URL comes from its options (`options.webhook_url` of `POST /v1/jobs`) or from its
schedule. The body is JSON (`event_body`); the header `X-Reshore-Signature: sha256=<hex>` is
the HMAC-SHA256 of the raw body under the tenant's secret (`GET /v1/webhooks/secret`), so a
receiver verifies it with `verify`. A delivery that fails (no answer, or a status outside
2xx) is retried with exponential backoff (tenacity): WEBHOOK_ATTEMPTS attempts, waiting
WEBHOOK_BACKOFF_S, then twice as long each time. Every attempt is recorded
(`GET /v1/jobs/{id}/webhooks`). The worker that ran the job delivers it, after storing the
outcome; a delivery never changes the job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Boolean, DateTime, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from reshore.api import db
from reshore.api.models import Base, Job, as_utc, utcnow

log = logging.getLogger("reshore.webhooks")

SIGNATURE_HEADER = "X-Reshore-Signature"
WEBHOOK_ATTEMPTS = 5
WEBHOOK_BACKOFF_S = 0.5
"""Wait before the second attempt; each later wait doubles (at most WEBHOOK_MAX_WAIT_S)."""
WEBHOOK_MAX_WAIT_S = 30.0
WEBHOOK_TIMEOUT_S = 10.0


class WebhookSecret(Base):
    __tablename__ = "webhook_secrets"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def tenant_secret(session: Session, tenant: str) -> str:
    """The tenant's signing secret, made on first use."""
    found = session.get(WebhookSecret, tenant)
    if found is not None:
        return found.secret
    try:
        with session.begin_nested():
            session.add(WebhookSecret(tenant=tenant, secret=secrets.token_hex(32),
                                      created_at=utcnow()))
    except IntegrityError:
        pass  # made meanwhile by another process
    made = session.get(WebhookSecret, tenant)
    assert made is not None
    return made.secret


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: sha256=<hex HMAC-SHA256 of the body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """True when `signature` is the body's signature under `secret` (constant time)."""
    return hmac.compare_digest(sign(secret, body), signature)


def event_body(session: Session, job: Job) -> dict[str, Any]:
    """What a webhook says: the job's outcome, its dataset version and, for a scheduled job,
    the schedule run."""
    from reshore.api.scheduler import ScheduleRun

    run = session.scalar(select(ScheduleRun).where(ScheduleRun.job_id == job.id))
    finished = as_utc(job.finished_at)
    return {
        "event": "job.finished",
        "job": {"id": job.id, "status": job.status, "plan_status": job.plan_status,
                "objective": job.best_objective, "bound": job.bound, "gap": job.gap,
                "message": job.message, "error": job.error,
                "finished_at": finished.isoformat() if finished else None,
                "dataset": None if job.dataset_id is None else {
                    "id": job.dataset_id, "version": job.dataset_version}},
        "schedule": None if run is None else {
            "id": run.schedule_id, "tick_at": (as_utc(run.tick_at) or run.tick_at).isoformat(),
            "kind": run.kind, "now": run.now_period, "previous_job": run.previous_job_id},
    }


class DeliveryFailedError(Exception):
    """One attempt did not reach a 2xx answer."""


def _record(database_url: str, job: Job, url: str, attempt: int, status_code: int | None,
            error: str | None) -> None:
    with db.session_scope(database_url) as session:
        session.add(WebhookDelivery(tenant=job.tenant, job_id=job.id, url=url, attempt=attempt,
                                    status_code=status_code, error=error,
                                    delivered=error is None, at=utcnow()))


def notify_job_end(database_url: str, job_id: str) -> bool | None:
    """Deliver the job's webhook, if it has one; True when delivered, False when every
    attempt failed, None without a URL. Never raises."""
    try:
        with db.session_scope(database_url) as session:
            job = session.scalar(select(Job).where(Job.id == job_id))
            if job is None:
                return None
            url = json.loads(job.options).get("webhook_url")
            if not url:
                return None
            body = json.dumps(event_body(session, job), sort_keys=True).encode()
            secret = tenant_secret(session, job.tenant)
        return _deliver(database_url, job, str(url), body, secret)
    except Exception:
        log.exception("job %s: the webhook could not be delivered", job_id)
        return False


def _deliver(database_url: str, job: Job, url: str, body: bytes, secret: str) -> bool:
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
               "X-Reshore-Event": "job.finished", "X-Reshore-Job": job.id}
    attempt = 0

    def post() -> None:
        nonlocal attempt
        attempt += 1
        try:
            answer = httpx.post(url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT_S)
        except httpx.HTTPError as error:
            _record(database_url, job, url, attempt, None, f"{type(error).__name__}: {error}")
            raise DeliveryFailedError(str(error)) from error
        if not 200 <= answer.status_code < 300:
            _record(database_url, job, url, attempt, answer.status_code,
                    f"answered {answer.status_code}")
            raise DeliveryFailedError(f"answered {answer.status_code}")
        _record(database_url, job, url, attempt, answer.status_code, None)

    retrying = Retrying(stop=stop_after_attempt(WEBHOOK_ATTEMPTS),
                        wait=wait_exponential(multiplier=WEBHOOK_BACKOFF_S,
                                              max=WEBHOOK_MAX_WAIT_S),
                        retry=retry_if_exception_type(DeliveryFailedError), reraise=False)
    try:
        retrying(post)
    except Exception:
        log.warning("job %s: webhook to %s failed after %d attempts", job.id, url, attempt)
        return False
    return True


def deliveries(session: Session, job_id: str) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.job_id == job_id).order_by(WebhookDelivery.id)))
