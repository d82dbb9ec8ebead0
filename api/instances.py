"""Instances at the HTTP boundary: validate once, report every error where it is, and read
uploaded CSV folders (zipped) and workbooks."""

from __future__ import annotations

import io
import logging
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import HTTPException, status

from reshore.api.config import Settings
from reshore.api.estimate import SizeEstimate, estimate_size
from reshore.api.schemas import ContractErrorView
from reshore.optimizer.io import SETTINGS_FILE, read_raw_tables
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
                                        f" validated: {type(error).__name__}: {error}",
                                        loc=list(prefix))]


def validated(raw: Any) -> Network:
    """The validated network; 422 naming every bad table, row and column."""
    network, errors = check_instance(raw)
    if network is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            [e.model_dump() for e in errors])
    return network


def sized(network: Network, settings: Settings) -> SizeEstimate:
    """The size estimate; 413 when the model would exceed the server's limits."""
    estimate = estimate_size(network)
    if estimate.nonzeros > settings.max_model_nonzeros:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the model would have about {estimate.nonzeros:,} nonzeros in its constraints"
            f" ({estimate.variables:,} variables over {len(network.settings.periods):,}"
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


MAX_FILES = 64
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def read_upload(body: bytes, content_type: str, limit: int) -> dict[str, Any]:
    """The raw tables of a zipped CSV folder or an xlsx workbook."""
    kind = content_type.split(";")[0].strip().lower()
    with tempfile.TemporaryDirectory(prefix="reshore-upload-") as folder:
        target = Path(folder)
        if kind in ("application/zip", "application/x-zip-compressed"):
            return read_raw_tables(_unzip(body, target, limit))
        if kind == XLSX:
            path = target / "instance.xlsx"
            path.write_bytes(body)
            return read_raw_tables(path)
    raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                        f"send application/zip (a zipped CSV folder) or {XLSX}")


def _unzip(body: bytes, target: Path, limit: int) -> Path:
    """Extract the CSV folder (the folder holding settings.json) of a zip archive."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except zipfile.BadZipFile as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"not a zip archive: {error}") from error
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        settings = [m for m in members if PurePosixPath(m.filename).name == SETTINGS_FILE]
        if len(settings) != 1:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"the archive must hold exactly one {SETTINGS_FILE} beside the"
                                " table CSV files")
        home = PurePosixPath(settings[0].filename).parent
        chosen = [m for m in members if PurePosixPath(m.filename).parent == home
                  and PurePosixPath(m.filename).suffix.lower() in (".csv", ".json")]
        if len(chosen) > MAX_FILES or sum(m.file_size for m in chosen) > 4 * limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                "the archive unpacks to more than this server accepts")
        for member in chosen:
            name = PurePosixPath(member.filename).name
            (target / name).write_bytes(archive.read(member))
    return target
