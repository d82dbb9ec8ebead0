"""Read and write instances in the three forms of the data contract.

A CSV folder (`settings.json` plus one `<table>.csv` per table), an xlsx workbook (one sheet
per table and a key/value `settings` sheet) or one JSON document carry the same tables and
columns. Every reader returns raw tables that `optimizer.schema.parse_network` validates, so
the three forms share one set of checks and one set of error messages.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from reshore.optimizer.schema import (
    ROW_MODELS,
    ContractError,
    InvalidNetwork,
    Network,
    parse_network,
)

SETTINGS_FILE = "settings.json"


def load_network(path: str | Path) -> Network:
    """Read and validate an instance from a CSV folder, an .xlsx workbook or a .json file."""
    return parse_network(read_raw_tables(path))


def read_raw_tables(path: str | Path) -> dict[str, Any]:
    """The unvalidated tables of an instance, whatever its form."""
    source = Path(path)
    if source.is_dir():
        return _read_csv_folder(source)
    if not source.exists():
        raise InvalidNetwork([ContractError(str(source), None, None, "no such file or folder")])
    if source.suffix.lower() == ".json":
        return _read_json(source)
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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [str(c).strip() for c in frame.columns]
    return [
        {column: value for column, value in zip(columns, row, strict=True) if _present(value)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidNetwork(
            [ContractError(path.name, None, None, f"unreadable JSON: {error}")]) from error
    if not isinstance(document, dict):
        raise InvalidNetwork([ContractError(path.name, None, None,
                                            "the JSON document must be an object of tables")])
    return document


def _read_csv_folder(folder: Path) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    errors: list[ContractError] = []
    settings_path = folder / SETTINGS_FILE
    if settings_path.exists():
        try:
            raw["settings"] = json.loads(settings_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            errors.append(ContractError("settings", None, None, f"unreadable JSON: {error}"))
    for table_path in sorted(folder.glob("*.csv")):
        table = table_path.stem
        try:
            frame = pd.read_csv(table_path, dtype=str, keep_default_na=False,
                                skipinitialspace=True)
        except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
            errors.append(ContractError(table, None, None, f"unreadable CSV: {error}"))
            continue
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame()
        raw[table] = _records(frame)
    if errors:
        raise InvalidNetwork(errors)
    return raw


def _settings_from_pairs(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Turn key/value rows (`risk.alpha`, 0.9) into the nested settings document."""
    settings: dict[str, Any] = {}
    for pair in pairs:
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
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return settings


def _read_xlsx(path: Path) -> dict[str, Any]:
    try:
        sheets = pd.read_excel(path, sheet_name=None, dtype=object, engine="openpyxl")
    except Exception as error:  # openpyxl raises many kinds on a damaged workbook
        raise InvalidNetwork(
            [ContractError(path.name, None, None, f"unreadable workbook: {error}")]) from error
    raw: dict[str, Any] = {}
    for name, frame in sheets.items():
        records = _records(frame)
        raw[str(name)] = _settings_from_pairs(records) if name == "settings" else records
    return raw


# --- writers (used to publish instances and by the tests' round trips) ----------------------


def network_tables(network: Network) -> dict[str, pd.DataFrame]:
    """Every table of the instance as a frame with the contract's column order."""
    document = network.to_tables()
    frames = {}
    for name, model in ROW_MODELS.items():
        rows = document.get(name)
        if rows is None:
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
    """Write the instance as a workbook: a key/value `settings` sheet and one sheet per table."""
    target = Path(path)
    pairs = _settings_pairs(network.settings.model_dump(mode="json"))
    with pd.ExcelWriter(target, engine="openpyxl") as writer:
        pd.DataFrame(pairs, columns=["key", "value"]).to_excel(
            writer, sheet_name="settings", index=False)
        for name, frame in network_tables(network).items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return target
