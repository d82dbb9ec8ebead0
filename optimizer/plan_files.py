"""The plan's files: `summary.json`, one CSV per table and `plan.xlsx`.

Tables are sorted by scenario (in the order of the scenarios table), period (in the order of
the horizon) and then their keys. The workbook opens on a `summary` sheet of readable rows
(section, item, value), has a `costs` sheet of cost category x scenario with the expected
value, and one sheet per table, each with a frozen header row, filters, fitted column widths
and number formats. Every file is written whole, whatever the plan's status: a plan without
a solution writes its status and diagnosis and empty tables, so that no older plan is left
in the folder to be mistaken for this one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from reshore.optimizer.costs import CATEGORIES
from reshore.optimizer.spreadsheet import (
    MONEY_FORMAT,
    QUANTITY_FORMAT,
    Sheet,
    write_workbook,
)

if TYPE_CHECKING:
    from reshore.optimizer.results import Plan

SUMMARY_FILE = "summary.json"
WORKBOOK_FILE = "plan.xlsx"

SORT_KEYS: dict[str, list[str]] = {
    "sites": ["site"],
    "sourcing": ["scenario", "period", "component", "offer", "site"],
    "production": ["scenario", "period", "site", "product"],
    "shipments": ["scenario", "period", "customer", "product", "site"],
    "inventory": ["scenario", "period", "site", "kind", "item"],
    "unmet": ["scenario", "period", "customer", "product"],
    "costs": ["scenario", "category"],
    "qualifications": ["component", "offer"],
    "utilisation": ["scenario", "period", "site"],
}
"""Sort order of each plan table."""

MONEY_COLUMNS = ("purchase_cost", "tariff_cost", "transport_cost", "cost", "amount",
                 "qualification_cost")
QUANTITY_COLUMNS = ("quantity", "hours_used", "capacity_hours")


def sort_table(name: str, frame: pd.DataFrame, periods: list[str],
               scenarios: list[str]) -> pd.DataFrame:
    """The table sorted by scenario, period and key; periods, scenarios and cost categories
    in their own order, not alphabetically."""
    keys = [key for key in SORT_KEYS.get(name, []) if key in frame.columns]
    if frame.empty or not keys:
        return frame.reset_index(drop=True)
    orders = {"period": periods, "scenario": scenarios, "category": list(CATEGORIES)}

    def order(column: pd.Series) -> pd.Series:
        ranks = orders.get(str(column.name))
        if ranks is None:
            return column.astype(str)
        position = {label: i for i, label in enumerate(ranks)}
        return column.map(lambda value: position.get(value, len(position)))

    return frame.sort_values(keys, key=order, kind="stable").reset_index(drop=True)


def sorted_tables(plan: Plan) -> dict[str, pd.DataFrame]:
    """Every table of the plan, sorted for reading."""
    return {name: sort_table(name, frame, plan.periods, list(plan.scenarios))
            for name, frame in plan.tables.items()}


def site_decision(row: Any) -> str:
    """What the plan does with one site, in words."""
    if row.status == "open":
        return f"opens {row.open_period} at tier {row.tier}"
    if row.status == "existing":
        return f"kept (existing, tier {row.tier})"
    if row.status == "closed" and _given(row.open_period) is not None:
        return f"opens {row.open_period} at tier {row.tier}, closes {row.close_period}"
    if row.status == "closed":
        return f"closes {row.close_period}"
    return "not opened"


def _given(value: Any) -> Any:
    """None for pandas' empty cells."""
    return None if value is None or (isinstance(value, float) and value != value) else value


def site_decisions(plan: Plan) -> list[dict[str, Any]]:
    """The sites decision as records: site, country, status, tier, open and close period and
    the decision in words."""
    if not plan.has_solution:
        return []
    sites = sort_table("sites", plan.tables["sites"], plan.periods, list(plan.scenarios))
    return [{"site": row.site, "country": row.country, "status": row.status,
             "tier": _given(row.tier), "open_period": _given(row.open_period),
             "close_period": _given(row.close_period), "decision": site_decision(row)}
            for row in sites.itertuples(index=False)]


def summary_rows(summary: Mapping[str, Any]) -> pd.DataFrame:
    """summary.json as readable rows (section, item, value): no JSON text in any cell."""
    rows: list[tuple[str, str, Any]] = [
        ("result", "status", summary["status"]),
        ("result", "objective", summary["objective"]),
        ("result", "bound", summary["bound"]),
        ("result", "gap", summary["gap"]),
        ("result", "expected cost", summary["expected_cost"]),
        ("result", f"CVaR at alpha {summary['risk'].get('alpha', 0.9):g}", summary["cvar"]),
        ("result", "worst-case cost", summary["worst_case_cost"]),
        ("result", "service level", summary["service_level"]),
        ("result", "domestic share of purchases", summary["domestic_share"]),
    ]
    rows += [("risk", str(key), value) for key, value in summary["risk"].items()]
    for scenario, probability in summary["scenario_probabilities"].items():
        rows.append(("scenarios", f"{scenario} probability", probability))
        if scenario in summary["scenario_costs"]:
            rows.append(("scenarios", f"{scenario} cost", summary["scenario_costs"][scenario]))
    rows += [("sites", site["site"], site["decision"]) for site in summary["sites"]]
    rows += [("diagnosis", str(i), reason) for i, reason in enumerate(summary["diagnosis"], 1)]
    rows += [("warnings", str(i), warning) for i, warning in enumerate(summary["warnings"], 1)]
    rows += [("timings (s)", str(key), value) for key, value in summary["timings"].items()]
    rows += [("model size", str(key), value) for key, value in summary["size"].items()]
    rows += _scaling_rows(summary.get("scaling"))
    rows += [("input", "solver", summary["solver"]), ("input", "SHA-256", summary["input_hash"])]
    return pd.DataFrame(rows, columns=["section", "item", "value"])


def _scaling_rows(scaling: dict[str, Any] | None) -> list[tuple[str, str, Any]]:
    """The money unit and the coefficient ranges HiGHS saw, as summary rows."""
    if not scaling:
        return []
    rows: list[tuple[str, str, Any]] = [("scaling", "money unit", scaling["money_unit"])]
    for stage, label in (("handed", "as handed to HiGHS"), ("in_currency", "in currency")):
        for part, figures in scaling[stage].items():
            text = "none" if figures is None else f"{figures[0]:.3g} to {figures[1]:.3g}"
            rows.append(("scaling", f"{part} {label}", text))
    return rows


def cost_matrix(plan: Plan) -> pd.DataFrame:
    """Present value by cost category (rows) and scenario (columns), with the expected value
    and a total row."""
    scenarios = list(plan.scenarios)
    costs = plan.tables["costs"]
    matrix = pd.DataFrame(0.0, index=list(CATEGORIES), columns=scenarios)
    if not costs.empty:
        pivot = costs.pivot_table(index="category", columns="scenario", values="amount",
                                  aggfunc="sum")
        matrix = pivot.reindex(index=list(CATEGORIES), columns=scenarios).fillna(0.0)
    matrix["expected"] = sum(matrix[s] * plan.scenarios[s] for s in scenarios)
    matrix.loc["total"] = matrix.sum()
    return matrix.rename_axis("category").reset_index()


def _formats(frame: pd.DataFrame) -> dict[str, str]:
    formats = {c: MONEY_FORMAT for c in frame.columns if c in MONEY_COLUMNS}
    formats.update({c: QUANTITY_FORMAT for c in frame.columns if c in QUANTITY_COLUMNS})
    return formats


def _replace(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file beside `path`, then move it in place in one step."""
    temporary = path.with_name(f".{path.name}.partial")
    write(temporary)
    temporary.replace(path)


def _csv_writer(frame: pd.DataFrame) -> Callable[[Path], object]:
    def write(path: Path) -> None:
        frame.to_csv(path, index=False)
    return write


def write_plan(plan: Plan, folder: str | Path) -> Path:
    """Write summary.json, one CSV per table and plan.xlsx into `folder`, replacing the files
    of any earlier plan there."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    summary = plan.to_json()["summary"]
    tables = sorted_tables(plan)
    for name, frame in tables.items():
        _replace(target / f"{name}.csv", _csv_writer(frame))
    sheets = [
        Sheet("summary", summary_rows(summary)),
        Sheet("costs", cost_matrix(plan),
              dict.fromkeys([*plan.scenarios, "expected"], MONEY_FORMAT)),
        *(Sheet(name, frame, _formats(frame)) for name, frame in tables.items()
          if name != "costs"),
    ]
    _replace(target / WORKBOOK_FILE, lambda path: write_workbook(path, sheets))
    _replace(target / SUMMARY_FILE,
             lambda path: path.write_text(json.dumps(summary, indent=2), encoding="utf-8"))
    return target
