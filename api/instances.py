"""Instances at the HTTP boundary: validate once, report every error where it is, and read
uploaded CSV folders (zipped) and workbooks."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from fastapi import HTTPException, status

from reshore.api import uploads
from reshore.api.config import Settings
from reshore.api.estimate import SizeEstimate
from reshore.api.figures import ChildLimits
from reshore.api.schemas import ContractErrorView
from reshore.api.uploads import XLSX, UploadLimits, ValidUpload

__all__ = ["XLSX", "InputErrorsError", "read_upload", "validated", "within_limits"]
from reshore.optimizer.schema import (
    ROW_MODELS,
    ContractError,
    InvalidNetwork,
    Network,
    parse_network,
)

log = logging.getLogger("reshore.api")


def error_view(error: ContractError, prefix: tuple[str, ...]) -> ContractErrorView:
    loc: list[str | int] = [*prefix, error.table]
    if error.row is not None:
        loc.append(error.row - 1)
    if error.column:
        loc.extend(error.column.split("."))
    return ContractErrorView(table=error.table, row=error.row, column=error.column,
                             message=error.message, loc=loc)


def counts(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    return {name: len(rows) for name, rows in raw.items()
            if name in ROW_MODELS and isinstance(rows, list)}


def check_instance(raw: Any) -> tuple[Network | None, list[ContractErrorView]]:
    """The validated network, or every error found (never an exception)."""
    prefix = ("body", "instance")
    if not isinstance(raw, dict):
        return None, [ContractErrorView(table="instance", message="must be an object of tables",
                                        loc=list(prefix))]
    try:
        return parse_network(raw), []
    except InvalidNetwork as invalid:
        return None, [error_view(error, prefix) for error in invalid.errors]
    except Exception as error:  # a gap in the contract's checks must not become a 500
        log.exception("the instance could not be validated")
        return None, [ContractErrorView(table="instance", message="the instance could not be"
                                        f" validated ({type(error).__name__})",
                                        loc=list(prefix))]


class InputErrorsError(Exception):
    """An instance with errors: answered 422 with the first `shown` errors and the count of
    every kind (table and column), so that the answer stays small whatever the input. `count`
    and `by_kind` are given when `errors` holds only the first ones (an upload's child process
    counted them)."""

    def __init__(self, errors: list[ContractErrorView], shown: int, count: int | None = None,
                 by_kind: dict[str, int] | None = None) -> None:
        super().__init__(f"{count or len(errors)} error(s) in the input")
        self.errors, self.shown = errors, shown
        self.count = len(errors) if count is None else count
        self.by_kind = errors_by_kind(errors) if by_kind is None else by_kind

    def body(self) -> dict[str, Any]:
        return {"detail": [e.model_dump() for e in self.errors[:self.shown]],
                "error_count": self.count, "errors_by_kind": self.by_kind}


class Located(Protocol):
    """An input error's place: ContractError and ContractErrorView alike."""

    @property
    def table(self) -> str: ...

    @property
    def column(self) -> str | None: ...


def error_kind(error: Located) -> str:
    """The kind of an input error: its table and column."""
    return f"{error.table}.{error.column}" if error.column else error.table


def errors_by_kind(errors: Sequence[Located]) -> dict[str, int]:
    return dict(Counter(error_kind(e) for e in errors).most_common())


def validated(raw: Any, settings: Settings) -> Network:
    """The validated network; 422 naming the bad tables, rows and columns (the first
    `max_errors_shown`, and how many of each kind)."""
    network, errors = check_instance(raw)
    if network is None:
        raise InputErrorsError(errors, settings.max_errors_shown)
    return network


def within_limits(estimate: SizeEstimate, periods: int, settings: Settings) -> SizeEstimate:
    """The estimate of a model over `periods` periods; 413 when it exceeds the server's
    limits."""
    if estimate.nonzeros > settings.max_model_nonzeros:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the model would have about {estimate.nonzeros:,} nonzeros in its constraints"
            f" ({estimate.variables:,} variables over {periods:,}"
            f" periods); this server accepts at most {settings.max_model_nonzeros:,}. Some"
            " constraints grow with the square of the periods: use fewer, longer periods,"
            " or ask the operator to raise RESHORE_MAX_MODEL_NONZEROS.")
    if estimate.variables > settings.max_model_variables:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the model would have about {estimate.variables:,} variables"
            f" ({estimate.integer_variables:,} integer) and {estimate.constraints:,}"
            f" constraints; this server accepts at most {settings.max_model_variables:,}"
            " variables. Reduce scenarios, periods, offers or lanes, or ask the operator to"
            " raise RESHORE_MAX_MODEL_VARIABLES.")
    return estimate


def figure_limits(settings: Settings) -> ChildLimits:
    """Bounds of the child process computing an older dataset version's figures: an
    upload's."""
    return ChildLimits(memory_mb=settings.upload_memory_mb,
                       time_limit_s=settings.upload_time_limit_s,
                       errors_shown=settings.max_errors_shown)


def upload_limits(settings: Settings) -> UploadLimits:
    return UploadLimits(unpacked_bytes=settings.max_upload_unpacked_bytes,
                        rows=settings.max_upload_rows, columns=settings.max_upload_columns,
                        memory_mb=settings.upload_memory_mb,
                        time_limit_s=settings.upload_time_limit_s,
                        errors_shown=settings.max_errors_shown)


def read_upload(body: bytes, content_type: str, settings: Settings) -> ValidUpload:
    """The validated instance of a zipped CSV folder or an xlsx workbook, read and checked
    against the data contract in a bounded child process; 413, 415 or 422 with the reason
    (or with the contract's errors) when it cannot be."""
    try:
        return uploads.read_upload(body, content_type, upload_limits(settings))
    except uploads.UploadRefusedError as refused:
        raise HTTPException(refused.status, refused.reason) from refused
    except uploads.UploadInvalidError as invalid:
        shown = [error_view(ContractError(**e), ("body",)) for e in invalid.errors]
        raise InputErrorsError(shown, settings.max_errors_shown, invalid.count,
                               invalid.by_kind) from invalid
    except ValueError as error:  # neither zip nor xlsx
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(error)) from error
