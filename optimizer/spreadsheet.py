"""Workbooks a planner can read, and that never run a formula hidden in the data.

Every xlsx the project writes (the plan's `plan.xlsx`, an instance written with
`optimizer.io.write_xlsx`) goes through `write_workbook`: each sheet gets a frozen header row,
a filter on its columns, column widths that fit the values and a number format per column.
Text is always stored as text: a value starting with `=`, `+`, `-` or `@` is written as a
string cell with Excel's quote prefix, so it shows as typed and is never evaluated as a formula.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter

FORMULA_PREFIXES = ("=", "+", "-", "@")
"""Leading characters that make a spreadsheet read a cell as a formula."""
MONEY_FORMAT = "#,##0.00"
QUANTITY_FORMAT = "#,##0.00"
SHARE_FORMAT = "0.00%"
WIDTH_MIN, WIDTH_MAX = 8, 60
ROWS_MEASURED = 500
"""Column widths are fitted to the header and this many leading rows."""


@dataclass(frozen=True)
class Sheet:
    """One sheet: its name, its rows and the number format of some of its columns."""

    name: str
    frame: pd.DataFrame
    number_formats: Mapping[str, str] = field(default_factory=dict)


def cell_value(value: Any) -> Any:
    """A pandas or numpy value as openpyxl takes it: plain numbers, text, or None for empty."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, int | str | datetime | date):
        return value
    return str(value)


def _fill(worksheet: Any, sheet: Sheet) -> None:
    columns = [str(column) for column in sheet.frame.columns]
    worksheet.append(columns)
    for row in sheet.frame.itertuples(index=False, name=None):
        worksheet.append([cell_value(value) for value in row])
    for cells in worksheet.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text stays text, even when it starts with "="
                if cell.value.startswith(FORMULA_PREFIXES):
                    cell.quotePrefix = True
    for i, column in enumerate(columns, start=1):
        number_format = sheet.number_formats.get(column)
        if number_format is None:
            continue
        for (cell,) in worksheet.iter_rows(min_row=2, min_col=i, max_col=i):
            if isinstance(cell.value, int | float):
                cell.number_format = number_format


def _width(values: Iterable[Any]) -> int:
    longest = max((len(f"{v:,.2f}" if isinstance(v, float) else str(v))
                   for v in values if v is not None), default=0)
    return min(max(longest + 2, WIDTH_MIN), WIDTH_MAX)


def _layout(worksheet: Any, sheet: Sheet) -> None:
    """Frozen header row, a filter over the columns, widths that fit the values."""
    worksheet.freeze_panes = "A2"
    if len(sheet.frame.columns):
        last = get_column_letter(len(sheet.frame.columns))
        worksheet.auto_filter.ref = f"A1:{last}{len(sheet.frame) + 1}"
    for i, column in enumerate(sheet.frame.columns, start=1):
        shown = [column, *(cell_value(v) for v in sheet.frame[column].head(ROWS_MEASURED))]
        worksheet.column_dimensions[get_column_letter(i)].width = _width(shown)


def write_workbook(path: str | Path, sheets: Iterable[Sheet]) -> Path:
    """Write the sheets, in order, to an xlsx file."""
    target = Path(path)
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for sheet in sheets:
        worksheet = workbook.create_sheet(title=sheet.name[:31])
        _fill(worksheet, sheet)
        _layout(worksheet, sheet)
    workbook.save(target)
    return target
