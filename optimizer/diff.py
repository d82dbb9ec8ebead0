"""What changed between two plans, table by table.

A plan is compared row by row on each table's key (the columns that name a decision, e.g.
scenario, period, offer and site for `sourcing`):

- a row is *added* when only the second plan has it, *removed* when only the first has it,
  and *changed* when both have it with a different quantity (or, for `sites`, a different
  tier, opening, closing or status);
- *units moved* is the sum over rows of |quantity after - quantity before|: every unit put
  on a row or taken off one counts, so shifting 10 units of production from one site to
  another moves 20 units in `production`;
- the *cost effect* is the change in the table's nominal cost columns (purchase, tariff and
  transport in `sourcing`, cost in `production`, transport and tariff in `shipments`,
  qualification cost in `qualifications`), each scenario's rows weighted by its probability
  (`summary.json`'s `scenario_probabilities`); the plans' expected costs (present value, from
  their summaries) are compared as a whole.

Plans are read from the folders `reshore solve` writes (one CSV per table and summary.json)
or taken from a `Plan` in memory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

from reshore.optimizer.results import TABLE_COLUMNS, Plan

DIFF_KEYS: dict[str, list[str]] = {
    "sites": ["site"],
    "qualifications": ["offer"],
    "sourcing": ["scenario", "period", "offer", "site"],
    "production": ["scenario", "period", "site", "product"],
    "shipments": ["scenario", "period", "site", "customer", "product"],
    "inventory": ["scenario", "period", "site", "item", "kind"],
    "unmet": ["scenario", "period", "customer", "product"],
}
"""The tables a diff compares, each with the columns that identify one decision."""

COST_COLUMNS: dict[str, list[str]] = {
    "sourcing": ["purchase_cost", "tariff_cost", "transport_cost"],
    "production": ["cost"],
    "shipments": ["transport_cost", "tariff_cost"],
    "qualifications": ["qualification_cost"],
}
"""Nominal cost columns summed into a table's cost effect."""

SITE_COLUMNS = ["tier", "open_period", "close_period", "status"]
"""What makes a `sites` row changed."""

QUANTITY_TOLERANCE = 1e-6
"""Quantities closer than this (relative to max(1, |quantity|)) count as unchanged."""


class PlanFolderError(ValueError):
    """A folder that is not a plan written by `reshore solve` (the message says what is
    missing)."""


@dataclass(frozen=True)
class PlanTables:
    """A plan's tables and summary, as read from a folder or taken from a `Plan`."""

    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]

    @classmethod
    def of(cls, plan: Plan) -> PlanTables:
        return cls(tables=dict(plan.tables), summary=plan.summary())


def read_plan(folder: str | Path) -> PlanTables:
    """The tables and summary of a plan folder (summary.json plus one CSV per table)."""
    target = Path(folder)
    summary_file = target / "summary.json"
    if not summary_file.is_file():
        raise PlanFolderError(f"{target} is not a plan folder: summary.json is missing")
    try:
        summary = json.loads(summary_file.read_text())
    except json.JSONDecodeError as error:
        raise PlanFolderError(f"{summary_file} is not valid JSON: {error}") from error
    tables = {}
    for name, columns in TABLE_COLUMNS.items():
        path = target / f"{name}.csv"
        if not path.is_file():
            raise PlanFolderError(f"{target} is not a plan folder: {name}.csv is missing")
        tables[name] = read_plan_table(path, name, columns)
    return PlanTables(tables=tables, summary=summary)


def read_plan_table(path: Path | IO[str], name: str,
                    columns: list[str] | None = None) -> pd.DataFrame:
    """One table of a plan (a CSV file or text), ids as text and amounts as numbers."""
    columns = columns or TABLE_COLUMNS[name]
    numeric = {"quantity", "amount", "hours_used", "capacity_hours", *(
        c for cs in COST_COLUMNS.values() for c in cs)}
    frame = pd.read_csv(path, dtype={c: str for c in columns if c not in numeric},
                        keep_default_na=False, na_values={c: [""] for c in numeric})
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PlanFolderError(f"{path}: column(s) {', '.join(missing)} missing")
    for column in numeric & set(frame.columns):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0.0)
    for column in set(columns) - numeric:
        frame[column] = frame[column].replace("", None)
    return frame


@dataclass(frozen=True)
class TableDiff:
    """How one table changed."""

    table: str
    added: int
    removed: int
    changed: int
    units_moved: float
    cost_effect: float | None
    """Change of the table's nominal cost columns; None for tables without one."""
    rows: pd.DataFrame
    """One row per added, removed or changed decision: its key, `change`
    (added/removed/changed) and the values before and after."""

    @property
    def unchanged(self) -> bool:
        return self.added == 0 and self.removed == 0 and self.changed == 0

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "added": self.added, "removed": self.removed,
                "changed": self.changed, "units_moved": self.units_moved,
                "cost_effect": self.cost_effect,
                "rows": json.loads(self.rows.to_json(orient="records"))}


@dataclass(frozen=True)
class PlanDiff:
    """Every table's changes and the plans' expected costs."""

    tables: dict[str, TableDiff]
    expected_cost_before: float | None
    expected_cost_after: float | None

    @property
    def units_moved(self) -> float:
        return float(sum(d.units_moved for d in self.tables.values()))

    @property
    def cost_effect(self) -> float | None:
        """Change of the expected cost (present value), after minus before."""
        if self.expected_cost_before is None or self.expected_cost_after is None:
            return None
        return self.expected_cost_after - self.expected_cost_before

    @property
    def unchanged(self) -> bool:
        return all(d.unchanged for d in self.tables.values())

    def to_json(self) -> dict[str, Any]:
        return {"expected_cost_before": self.expected_cost_before,
                "expected_cost_after": self.expected_cost_after,
                "cost_effect": self.cost_effect, "units_moved": self.units_moved,
                "tables": {name: d.to_json() for name, d in self.tables.items()}}

    def format(self, rows_per_table: int = 10) -> str:
        """The diff as a planner reads it: one line per table, then its first changed rows."""
        lines = [f"{'table':<16}{'added':>8}{'removed':>9}{'changed':>9}{'units moved':>14}"
                 f"{'cost effect':>16}"]
        for d in self.tables.values():
            cost = "-" if d.cost_effect is None else f"{d.cost_effect:+,.2f}"
            lines.append(f"{d.table:<16}{d.added:>8}{d.removed:>9}{d.changed:>9}"
                         f"{d.units_moved:>14,.6g}{cost:>16}")
        effect = self.cost_effect
        lines.append("expected cost: " + ("-" if effect is None else
                     f"{self.expected_cost_before:,.2f} -> {self.expected_cost_after:,.2f}"
                     f" ({effect:+,.2f})"))
        for d in self.tables.values():
            if d.rows.empty or rows_per_table <= 0:
                continue
            lines.append(f"{d.table}:")
            for row in d.rows.head(rows_per_table).to_dict("records"):
                lines.append("  " + _describe(d.table, row))
            if len(d.rows) > rows_per_table:
                lines.append(f"  ... and {len(d.rows) - rows_per_table} more")
        return "\n".join(lines)


def _describe(table: str, row: Mapping[Any, Any]) -> str:
    key = " ".join(str(row[c]) for c in DIFF_KEYS[table])
    if table == "sites":
        before = "/".join(str(row[f"{c}_before"]) for c in SITE_COLUMNS)
        after = "/".join(str(row[f"{c}_after"]) for c in SITE_COLUMNS)
        return f"{row['change']:<8} {key}: {before} -> {after}"
    if table == "qualifications":
        return f"{row['change']:<8} {key}"
    return (f"{row['change']:<8} {key}: {_amount(row['quantity_before'])} ->"
            f" {_amount(row['quantity_after'])}")


def _amount(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:,.6g}"


def diff_plans(before: PlanTables | Plan, after: PlanTables | Plan,
               tables: Sequence[str] = tuple(DIFF_KEYS)) -> PlanDiff:
    """How `after` differs from `before`, table by table (all of DIFF_KEYS by default)."""
    first = before if isinstance(before, PlanTables) else PlanTables.of(before)
    second = after if isinstance(after, PlanTables) else PlanTables.of(after)
    weights = scenario_weights(first, second)
    diffs = {name: diff_table(name, first.tables[name], second.tables[name], weights)
             for name in tables}
    return PlanDiff(tables=diffs, expected_cost_before=_number(first.summary, "expected_cost"),
                    expected_cost_after=_number(second.summary, "expected_cost"))


def scenario_weights(*plans: PlanTables) -> dict[str, float]:
    """Each scenario's probability, from the plans' summaries (the later plan's where they
    differ); equal weights for plans written without them."""
    weights: dict[str, float] = {}
    for plan in plans:
        weights.update(plan.summary.get("scenario_probabilities") or {})
    if weights:
        return {str(s): float(p) for s, p in weights.items()}
    scenarios = {str(s) for plan in plans for name in ("sourcing", "production", "shipments")
                 if name in plan.tables for s in plan.tables[name].get("scenario", [])}
    return {s: 1.0 / len(scenarios) for s in scenarios}


def _number(summary: dict[str, Any], key: str) -> float | None:
    value = summary.get(key)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def diff_table(name: str, before: pd.DataFrame, after: pd.DataFrame,
               weights: Mapping[str, float] | None = None) -> TableDiff:
    """Added, removed and changed rows of one table (see the module docstring); the cost
    effect weights each scenario's rows by `weights` (its probability; 1 when not given)."""
    keys = DIFF_KEYS[name]
    if name == "sites":
        values = SITE_COLUMNS
    elif name == "qualifications":
        values = ["qualification_cost"]
    else:
        values = ["quantity"]
    costs = COST_COLUMNS.get(name, [])
    wanted = list(dict.fromkeys([*values, *costs]))
    left = _keyed(before, keys, wanted)
    right = _keyed(after, keys, wanted)
    both = left.merge(right, on=keys, how="outer", suffixes=("_before", "_after"),
                      indicator=True)
    change = both["_merge"].map({"left_only": "removed", "right_only": "added",
                                 "both": "same"}).astype(str)
    if name == "sites":
        differs = pd.Series(False, index=both.index)
        for column in SITE_COLUMNS:
            a, b = both[f"{column}_before"], both[f"{column}_after"]
            differs |= ~((a == b) | (a.isna() & b.isna()))
    elif name == "qualifications":
        differs = pd.Series(False, index=both.index)
    else:
        a = both.quantity_before.fillna(0.0)
        b = both.quantity_after.fillna(0.0)
        differs = (a - b).abs() > QUANTITY_TOLERANCE * (1.0 + a.abs().combine(b.abs(), max))
    change = change.where(~((change == "same") & differs), "changed")
    both = both.assign(change=change).drop(columns="_merge")
    rows = both[both.change != "same"].reset_index(drop=True)
    moved = 0.0
    if "quantity" in values:
        moved = float((rows.quantity_after.fillna(0.0) - rows.quantity_before.fillna(0.0))
                      .abs().sum())
    effect = None
    if costs:
        weight = both.scenario.map(weights).fillna(1.0) if (
            weights and "scenario" in keys) else pd.Series(1.0, index=both.index)
        effect = float(sum(((both[f"{c}_after"].fillna(0.0) - both[f"{c}_before"].fillna(0.0))
                            * weight).sum() for c in costs))
    ordered = [*keys, "change", *(f"{c}_{side}" for c in wanted
                                  for side in ("before", "after"))]
    return TableDiff(table=name, added=int((rows.change == "added").sum()),
                     removed=int((rows.change == "removed").sum()),
                     changed=int((rows.change == "changed").sum()), units_moved=moved,
                     cost_effect=effect, rows=rows[ordered])


def _keyed(frame: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    """The table's key and value columns, one row per key (quantities and costs of repeated
    keys add up)."""
    columns = [*keys, *values]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in keys else float)
                             for c in columns})
    table = frame[columns].copy()
    for key in keys:
        table[key] = table[key].astype(str)
    numeric = [c for c in values if c not in SITE_COLUMNS]
    if numeric and len(table) != len(table.drop_duplicates(keys)):
        table = table.groupby(keys, as_index=False)[numeric].sum()
    return table
