"""Read and write instances in the three forms of the data contract.

A CSV folder (`settings.json` plus one `<table>.csv` per table), an xlsx workbook (one sheet
per table and a key/value `settings` sheet) or one JSON document carry the same tables and
columns. Every reader returns raw tables that `optimizer.schema.parse_network` validates, so
the three forms share one set of checks and one set of error messages.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_args

import pandas as pd

from reshore.optimizer.schema import (
    ROW_MODELS,
    ContractError,
    InvalidNetwork,
    Network,
    parse_network,
)
from reshore.optimizer.spreadsheet import Sheet, write_workbook

SETTINGS_FILE = "settings.json"


@dataclass(frozen=True)
class RawInstance:
    """An instance's unvalidated tables and the reader's warnings (not errors) about them."""

    tables: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def load_network(path: str | Path) -> Network:
    """Read and validate an instance from a CSV folder, an .xlsx workbook or a .json file."""
    raw = read_instance(path)
    return parse_network(raw.tables, raw.warnings)


def read_raw_tables(path: str | Path) -> dict[str, Any]:
    """The unvalidated tables of an instance, whatever its form."""
    return read_instance(path).tables


def read_instance(path: str | Path) -> RawInstance:
    """The unvalidated tables of an instance and the reader's warnings, whatever its form."""
    source = Path(path)
    if source.is_dir():
        return _read_csv_folder(source)
    if not source.exists():
        raise InvalidNetwork([ContractError(str(source), None, None, "no such file or folder")])
    if source.suffix.lower() == ".json":
        return RawInstance(_read_json(source))
    if source.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(source)
    raise InvalidNetwork([ContractError(
        source.name, None, None, "unknown input form: give a CSV folder, a .xlsx or a .json")])


def _present(value: Any) -> bool:
    """False for the empty cells of CSV and xlsx, so that the contract's defaults apply."""
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, str) and value.strip() == "")


def _is_number(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    return any(_is_number(argument) for argument in get_args(annotation))


def numeric_columns(table: str) -> set[str]:
    """The columns of a table that hold numbers (prices, quantities, counts)."""
    model = ROW_MODELS.get(table)
    if model is None:
        return set()
    return {name for name, info in model.model_fields.items() if _is_number(info.annotation)}


def _as_text(value: Any) -> Any:
    """A spreadsheet's number or date in an id or text column, as the text the user typed:
    2027 (not 2027.0), 2027-01-01 (not a timestamp)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()
    return value


def _records(frame: pd.DataFrame, table: str) -> list[dict[str, Any]]:
    """Rows as dicts of the cells given; a blank row becomes {} (skipped by the parser, but
    still counted, so that row numbers match the input's)."""
    columns = [str(c).strip() for c in frame.columns]
    numbers = numeric_columns(table)
    return [
        {column: value if column in numbers else _as_text(value)
         for column, value in zip(columns, row, strict=True) if _present(value)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidNetwork(
            [ContractError(path.name, None, None, f"unreadable JSON: {error}")]) from error
    if not isinstance(document, dict):
        raise InvalidNetwork([ContractError(path.name, None, None,
                                            "the JSON document must be an object of tables")])
    return document


DELIMITERS = (",", ";", "\t")
DECIMAL_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+$")
"""A number written with a decimal comma, with or without '.' grouping: 1,5 or 1.234,5."""


def _delimiter(text: str) -> str:
    """The separator of a CSV file: the one of ',', ';' and tab its header line (its first
    line with text) uses most."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _with_decimal_points(rows: list[dict[str, Any]], table: str) -> list[dict[str, Any]]:
    """Numbers written with a decimal comma (1,5 or 1.234,5) in the numeric columns of a file
    separated by ';' or tabs, rewritten with a decimal point."""
    numbers = numeric_columns(table)
    return [{column: value.replace(".", "").replace(",", ".")
             if column in numbers and DECIMAL_COMMA.match(value.strip()) else value
             for column, value in row.items()} for row in rows]


def _csv_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"not UTF-8 text (byte 0x{data[error.start]:02x} at position {error.start}):"
            " save the sheet as 'CSV UTF-8'") from error


def _read_csv_table(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """A CSV table's rows and, for an empty file, a warning. Raises ValueError saying what
    was found when the file cannot be read as a table."""
    text = _csv_text(path)
    delimiter = _delimiter(text)
    lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                            skipinitialspace=True))
    start = next((i for i, line in enumerate(lines) if any(cell.strip() for cell in line)),
                 None)
    if start is None:
        return [], f"{path.name} is empty: read as a table with no rows"
    header = [cell.strip() or f"(column {i} has no name)"
              for i, cell in enumerate(lines[start], start=1)]
    rows = []
    for number, line in enumerate(lines[start + 1:], start=1):
        extra = [cell for cell in line[len(header):] if cell.strip()]
        if extra:
            shown = "tab" if delimiter == "\t" else f"'{delimiter}'"
            hint = "; a decimal comma in a comma-separated file?" if delimiter == "," else ""
            raise ValueError(f"row {number} has {len(header) + len(extra)} cells where the"
                             f" header has {len(header)} (read as {shown}-separated{hint})")
        rows.append({column: cell for column, cell in zip(header, line, strict=False)
                     if _present(cell)})
    if delimiter != ",":
        rows = _with_decimal_points(rows, path.stem)
    if not any(rows):
        return rows, f"{path.name} has a header but no rows: read as a table with no rows"
    return rows, None


def _read_csv_folder(folder: Path) -> RawInstance:
    raw: dict[str, Any] = {}
    warnings: list[str] = []
    errors: list[ContractError] = []
    settings_path = folder / SETTINGS_FILE
    if settings_path.exists():
        try:
            raw["settings"] = json.loads(settings_path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            errors.append(ContractError("settings", None, None, f"unreadable JSON: {error}"))
    for table_path in sorted(folder.glob("*.csv")):
        table = table_path.stem
        try:
            raw[table], warning = _read_csv_table(table_path)
        except (OSError, ValueError) as error:
            errors.append(ContractError(table, None, None, f"unreadable CSV: {error}"))
            continue
        if warning is not None:
            warnings.append(warning)
    if errors:
        raise InvalidNetwork(errors)
    return RawInstance(raw, warnings)


def _settings_from_pairs(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Turn key/value rows (`risk.alpha`, 0.9) into the nested settings document. A key that
    is both a value and a group (`risk` beside `risk.alpha`) is an error."""
    settings: dict[str, Any] = {}
    errors: list[ContractError] = []
    for number, pair in enumerate(pairs, start=1):
        key, value = str(pair.get("key", "")).strip(), pair.get("value")
        if not key or not _present(value):
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                if key == "periods":
                    value = [label.strip() for label in value.split(",")]
        target = settings
        *parents, leaf = key.split(".")
        for depth, parent in enumerate(parents, start=1):
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                group = ".".join(parents[:depth])
                errors.append(ContractError("settings", number, "key",
                                            f"'{key}' needs '{group}' to be a group of keys,"
                                            f" but '{group}' is also given a value"))
                break
        else:
            if isinstance(target.get(leaf), dict):
                errors.append(ContractError("settings", number, "key",
                                            f"'{key}' is given a value, but also has keys"
                                            f" '{key}.*'"))
            else:
                target[leaf] = value
    if errors:
        raise InvalidNetwork(errors)
    return settings


def _read_xlsx(path: Path) -> RawInstance:
    try:
        sheets = pd.read_excel(path, sheet_name=None, dtype=object, engine="openpyxl",
                               keep_default_na=False, na_values=[])
    except Exception as error:  # openpyxl raises many kinds on a damaged workbook
        raise InvalidNetwork(
            [ContractError(path.name, None, None, f"unreadable workbook: {error}")]) from error
    raw: dict[str, Any] = {}
    warnings: list[str] = []
    for name, frame in sheets.items():
        table = str(name).strip()
        records = _records(frame, table)
        if table == "settings":
            raw[table] = _settings_from_pairs(records)
            continue
        raw[table] = records
        if not any(records):
            warnings.append(f"sheet {table} has no rows: read as a table with no rows")
    return RawInstance(raw, warnings)


# --- writers (used to publish instances and by the tests' round trips) ----------------------


def network_tables(network: Network) -> dict[str, pd.DataFrame]:
    """Every table of the instance as a frame with the contract's column order; optional
    tables without rows are left out (absent and empty mean the same to them), except lanes,
    where an empty table allows no pair at all."""
    document = network.to_tables()
    frames = {}
    for name, model in ROW_MODELS.items():
        rows = document.get(name)
        if rows is None or (not rows and name != "lanes"):
            continue
        frames[name] = pd.DataFrame(rows, columns=list(model.model_fields))
    return frames


def write_json(network: Network, path: str | Path) -> Path:
    """Write the instance as one JSON document."""
    target = Path(path)
    target.write_text(json.dumps(network.to_tables(), indent=1), encoding="utf-8")
    return target


def write_csv_folder(network: Network, folder: str | Path) -> Path:
    """Write the instance as `settings.json` plus one CSV per table."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    settings = network.settings.model_dump(mode="json")
    (target / SETTINGS_FILE).write_text(json.dumps(settings, indent=1), encoding="utf-8")
    for name, frame in network_tables(network).items():
        frame.to_csv(target / f"{name}.csv", index=False)
    return target


def _settings_pairs(settings: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in settings.items():
        if isinstance(value, dict):
            pairs += _settings_pairs(value, f"{prefix}{key}.")
        elif value is not None:
            pairs.append((prefix + key, json.dumps(value) if isinstance(value, list) else value))
    return pairs


def write_xlsx(network: Network, path: str | Path) -> Path:
    """Write the instance as a workbook: a key/value `settings` sheet and one sheet per table
    (text cells are stored as text, never as formulas)."""
    pairs = _settings_pairs(network.settings.model_dump(mode="json"))
    return write_workbook(path, [
        Sheet("settings", pd.DataFrame(pairs, columns=["key", "value"])),
        *(Sheet(name, frame) for name, frame in network_tables(network).items()),
    ])
