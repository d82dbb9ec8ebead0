"""Datasets: store a validated instance once, solve it many times; every version is kept."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from reshore.api import store
from reshore.api.deps import SessionDep, SettingsDep, TenantDep
from reshore.api.figures import figures_of
from reshore.api.instances import (
    XLSX,
    counts,
    read_upload,
    validated,
)
from reshore.api.models import Dataset, as_utc
from reshore.api.schemas import (
    DatasetCreate,
    DatasetPage,
    DatasetVersionCreate,
    DatasetVersionView,
    DatasetView,
    Problem,
)
from reshore.api.version_changes import apply_change_list
from reshore.optimizer.solve import input_hash

router = APIRouter(prefix="/datasets", tags=["datasets"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such dataset for this tenant"}}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "every bad table, row and column"}}


def dataset_view(session: SessionDep, dataset: Dataset) -> DatasetView:
    versions = [DatasetVersionView(version=v.version,
                                   created_at=as_utc(v.created_at) or v.created_at,
                                   note=v.note, input_hash=v.instance_hash,
                                   counts=json.loads(v.counts),
                                   warnings=json.loads(v.warnings))
                for v in store.versions_of(session, dataset.id)]
    return DatasetView(id=dataset.id, name=dataset.name,
                       created_at=as_utc(dataset.created_at) or dataset.created_at,
                       latest_version=max((v.version for v in versions), default=0),
                       versions=versions)


def _store(session: SessionDep, settings: SettingsDep, tenant: str, name: str, raw: Any,
           note: str, dataset: Dataset | None = None) -> Dataset:
    network = validated(raw, settings)
    tables = network.to_tables()
    digest = input_hash(network)
    store.store_instance(session, digest, tables)
    return store.add_version(session, tenant, name, digest, counts(raw), note, dataset,
                             network.warnings, figures_of(network).to_json())


def _dataset(session: SessionDep, tenant: str, dataset_id: str) -> Dataset:
    dataset = store.find_dataset(session, tenant, dataset_id)
    if dataset is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dataset {dataset_id}")
    return dataset


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetView,
             responses=INVALID)
def create_dataset(body: DatasetCreate, session: SessionDep, tenant: TenantDep,
                   settings: SettingsDep, response: Response) -> DatasetView:
    """Store a validated instance under a name; an existing name gets a new version."""
    dataset = _store(session, settings, tenant, body.name, body.instance, body.note)
    response.headers["Location"] = f"/v1/datasets/{dataset.id}"
    return dataset_view(session, dataset)


@router.post("/import", status_code=status.HTTP_201_CREATED, response_model=DatasetView,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/zip": {"schema": {"type": "string", "format": "binary"}},
                 XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
             responses={415: {"model": Problem, "description": "neither zip nor xlsx"},
                        **INVALID})
async def import_dataset(request: Request, session: SessionDep, tenant: TenantDep,
                         settings: SettingsDep,
                         name: Annotated[str, Query(
                             min_length=1, max_length=200,
                             pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                             description="dataset name (an existing name gets a new version)")],
                         note: Annotated[str, Query(max_length=500,
                                                    description="what changed")] = ""
                         ) -> DatasetView:
    """Store a CSV folder (zipped, settings.json beside the tables) or an xlsx workbook."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")

    def work() -> DatasetView:
        upload = read_upload(body, content_type, settings)
        store.store_instance_document(session, upload.digest, upload.document)
        dataset = store.add_version(session, tenant, name, upload.digest, upload.counts, note,
                                    warnings=upload.warnings, figures=upload.figures)
        view = dataset_view(session, dataset)
        session.commit()
        return view

    return await run_in_threadpool(work)


@router.get("", response_model=DatasetPage)
def list_datasets(session: SessionDep, tenant: TenantDep) -> DatasetPage:
    """The tenant's datasets, newest first."""
    return DatasetPage(items=[dataset_view(session, d)
                              for d in store.list_datasets(session, tenant)])


@router.get("/{dataset_id}", response_model=DatasetView, responses=NOT_FOUND)
def get_dataset(dataset_id: str, session: SessionDep, tenant: TenantDep) -> DatasetView:
    """A dataset and its versions."""
    return dataset_view(session, _dataset(session, tenant, dataset_id))


@router.post("/{dataset_id}/versions", status_code=status.HTTP_201_CREATED,
             response_model=DatasetView, responses={**NOT_FOUND, **INVALID})
def add_version(dataset_id: str, body: DatasetVersionCreate, session: SessionDep,
                tenant: TenantDep, settings: SettingsDep) -> DatasetView:
    """Store a new version of a dataset: a whole instance, or `changes` to the latest version
    (see `api.version_changes`)."""
    dataset = _dataset(session, tenant, dataset_id)
    raw, note = body.instance, body.note
    if body.changes is not None:
        raw, notes = apply_change_list(session, dataset, body.changes)
        note = "; ".join([note, *notes]) if note else "; ".join(notes)
    return dataset_view(session, _store(session, settings, tenant, dataset.name,
                                        raw, note[:500], dataset))


@router.get("/{dataset_id}/versions/{version}", responses={
    200: {"description": "the instance in the JSON form of the data contract",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Network"}}}},
    **NOT_FOUND})
def get_version(dataset_id: str,
                version: Annotated[int, PathParam(ge=1, le=2**31 - 1,
                                                  description="version number")],
                session: SessionDep, tenant: TenantDep) -> Response:
    """One version's instance, as stored (validated, defaults filled in)."""
    dataset = _dataset(session, tenant, dataset_id)
    for stored in store.versions_of(session, dataset.id):
        if stored.version == version:
            document = store.load_instance(session, stored.instance_hash)
            return Response(json.dumps(document), media_type="application/json")
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"dataset {dataset_id} has no version"
                        f" {version}")
