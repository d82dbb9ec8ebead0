"""Webhooks: the tenant's signing secret and each job's delivery attempts (see
`api.webhooks`)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from reshore.api import store
from reshore.api.deps import SessionDep, TenantDep
from reshore.api.models import as_utc
from reshore.api.webhooks import SIGNATURE_HEADER, deliveries, tenant_secret

router = APIRouter(tags=["webhooks"])


class WebhookSecretView(BaseModel):
    secret: str = Field(description="the tenant's HMAC-SHA256 key")
    header: str = Field(description="the header carrying the signature")
    scheme: str = Field(description="how the signature is made")


class DeliveryView(BaseModel):
    url: str
    attempt: int = Field(description="1 for the first attempt")
    at: datetime
    status_code: int | None = Field(description="the receiver's answer, if any")
    delivered: bool = Field(description="true for a 2xx answer")
    error: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryView] = Field(description="every attempt, oldest first")


@router.get("/webhooks/secret", response_model=WebhookSecretView)
def get_secret(session: SessionDep, tenant: TenantDep) -> WebhookSecretView:
    """The secret that signs this tenant's webhooks (made on first use)."""
    return WebhookSecretView(
        secret=tenant_secret(session, tenant), header=SIGNATURE_HEADER,
        scheme="sha256=<hex HMAC-SHA256 of the raw request body under the secret>")


@router.get("/jobs/{job_id}/webhooks", response_model=DeliveryPage)
def list_deliveries(job_id: str, session: SessionDep, tenant: TenantDep) -> DeliveryPage:
    """Every delivery attempt of the job's webhook."""
    if store.get_job(session, tenant, job_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    return DeliveryPage(items=[DeliveryView(
        url=d.url, attempt=d.attempt, at=as_utc(d.at) or d.at, status_code=d.status_code,
        delivered=d.delivered, error=d.error) for d in deliveries(session, job_id)])
