"""Validation without solving."""

from __future__ import annotations

from fastapi import APIRouter

from reshore.api.deps import SettingsDep, TenantDep
from reshore.api.estimate import estimate_size
from reshore.api.instances import check_instance, counts, errors_by_kind
from reshore.api.schemas import SizeView, ValidateRequest, ValidationReport

router = APIRouter(tags=["validate"])


@router.post("/validate", response_model=ValidationReport)
def validate_instance(body: ValidateRequest, _tenant: TenantDep,
                      settings: SettingsDep) -> ValidationReport:
    """Check an instance without solving it: every error with its table, row and column."""
    network, errors = check_instance(body.instance)
    if network is None:
        return ValidationReport(valid=False, errors=errors[:settings.max_errors_shown],
                                error_count=len(errors), errors_by_kind=errors_by_kind(errors),
                                counts=counts(body.instance))
    estimate = estimate_size(network)
    return ValidationReport(valid=True, errors=[], counts=counts(body.instance),
                            estimate=SizeView(**estimate.as_dict()),
                            fits=estimate.variables <= settings.max_model_variables
                            and estimate.nonzeros <= settings.max_model_nonzeros,
                            warnings=list(network.warnings))
