"""Dataset versions from a change list: `POST /v1/datasets/{id}/versions` with `changes`
instead of `instance` applies the changes, in the what-if variants format
(`optimizer.variants`: table, where, and one of set, scale, add, delete, append, or settings),
to the dataset's latest version, so that a planning system sends only what changed. The
result is validated by the data contract like any uploaded instance."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from reshore.api import store
from reshore.api.models import Dataset
from reshore.optimizer.schema import parse_network
from reshore.optimizer.variants import Change, VariantError, VariantSpec, apply_variant, expand


def _invalid(message: str, loc: list[str | int]) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
        "loc": ["body", "changes", *loc], "msg": message, "type": "value_error"}])


def apply_change_list(session: Session, dataset: Dataset,
                      changes: list[Change]) -> tuple[dict[str, Any], list[str]]:
    """The tables of the dataset's latest version with `changes` applied, and the notes of
    what the changes took with them (rows of other tables naming a deleted row)."""
    versions = store.versions_of(session, dataset.id)
    latest = versions[-1]
    spec = VariantSpec(name=f"version {latest.version + 1}", changes=changes)
    variants = expand(spec)
    if len(variants) != 1:
        raise _invalid("a version's change list takes one value per column, not a list of"
                       " values (lists make what-if variants)", [])
    network = parse_network(store.load_instance(session, latest.instance_hash))
    try:
        applied = apply_variant(network, variants[0])
    except VariantError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "changes"], "msg": problem, "type": "value_error"}
            for problem in error.problems]) from None
    return applied.network.to_tables(), applied.notes
