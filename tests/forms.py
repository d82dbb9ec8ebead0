"""Write raw (possibly invalid) instances in the three forms of the data contract, as a user's
spreadsheet program would, so that the tests can read them back through `load_network`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl

from reshore.optimizer.io import SETTINGS_FILE

FORMS = ("csv", "xlsx", "json")


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [column for column in row if column not in columns]
    return columns


def _settings_pairs(settings: dict[str, Any], prefix: str = "") -> list[list[Any]]:
    pairs: list[list[Any]] = []
    for key, value in settings.items():
        if isinstance(value, dict):
            pairs += _settings_pairs(value, f"{prefix}{key}.")
        else:
            pairs.append([prefix + key, json.dumps(value) if isinstance(value, list) else value])
    return pairs


def csv_text(rows: list[dict[str, Any]], separator: str = ",", decimal: str = ".") -> str:
    """A table as a spreadsheet writes it: a header and one line per row, empty cells for
    missing values."""
    columns = _columns(rows)

    def cell(value: Any) -> str:
        if value is None:
            return ""
        text = str(value).replace(".", decimal) if isinstance(value, float) else str(value)
        return f'"{text}"' if separator in text or '"' in text else text

    lines = [separator.join(columns)]
    lines += [separator.join(cell(row.get(c)) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def write_form(raw: dict[str, Any], form: str, folder: Path, *, separator: str = ",",
               decimal: str = ".") -> Path:
    """Write `raw` (settings plus lists of row dicts) as a CSV folder, an xlsx or a JSON file
    under `folder`; return the path to load."""
    folder.mkdir(parents=True, exist_ok=True)
    if form == "json":
        path = folder / "instance.json"
        path.write_text(json.dumps(raw), encoding="utf-8")
        return path
    tables = {name: rows for name, rows in raw.items() if name != "settings"}
    if form == "csv":
        target = folder / "instance"
        target.mkdir()
        (target / SETTINGS_FILE).write_text(json.dumps(raw["settings"]), encoding="utf-8")
        for name, rows in tables.items():
            (target / f"{name}.csv").write_text(csv_text(rows, separator, decimal),
                                                encoding="utf-8")
        return target
    path = folder / "instance.xlsx"
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    settings = workbook.create_sheet("settings")
    for pair in [["key", "value"], *_settings_pairs(raw["settings"])]:
        settings.append(pair)
    for name, rows in tables.items():
        sheet = workbook.create_sheet(name)
        columns = _columns(rows)
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(column) for column in columns])
    workbook.save(path)
    return path
