"""The coefficient ranges HiGHS sees, before and after the model's money scaling.

Money enters the model divided by `PreparedNetwork.money_unit` (chosen in
`optimizer.prepare.money_unit` from the instance's money figures); everything else is in the
units of the input. `scaling_report` gives the smallest and largest absolute nonzero value of
the matrix, costs, column bounds and row bounds as HiGHS is handed them, and as they would be
with money counted in currency, and says where the handed ranges are beyond what HiGHS
handles well (see docs/formulation.md, "Scaling").
"""

from __future__ import annotations

from typing import Any

import highspy
import numpy as np

from reshore.models.built import BuiltModel
from reshore.optimizer.results import CoefficientRanges, Scaling, Span
from reshore.optimizer.solve.handoff import HandOff

MONEY_ROWS = frozenset({"scenario_cost_definition", "capex_budget", "min_domestic_share"})
"""Row families whose coefficients (besides those of money columns and slacks) and bounds
are money."""

MONEY_COLUMNS = frozenset({"scenario_cost", "value_at_risk", "excess_cost", "worst_cost"})
"""Variable families measured in money: their objective coefficients are weights, every
other objective coefficient is a price."""

WELL_HANDLED: dict[str, Span] = {
    "matrix": (1e-7, 1e9),
    "cost": (1e-7, 1e9),
    "bound": (0.0, 1e9),
    "rhs": (0.0, 1e9),
}
"""The absolute values HiGHS handles well in each part. Matrix values and costs at or below
`small_matrix_value` (1e-9) are dropped as zeros, so the smallest kept is a hundred times
that; beyond 1e9 a value times double precision's resolution (2.2e-16) approaches HiGHS's
feasibility and optimality tolerances (1e-7), so the tolerances no longer mean what they
say (QUANTITY_MAX, the largest quantity the input accepts, is 1e9)."""


def span(values: Any) -> Span | None:
    """Smallest and largest absolute nonzero finite value (|v| < HiGHS's infinity)."""
    magnitudes = np.abs(np.asarray(values, dtype=float).ravel())
    magnitudes = magnitudes[(magnitudes > 0) & (magnitudes < highspy.kHighsInf)]
    if magnitudes.size == 0:
        return None
    return float(magnitudes.min()), float(magnitudes.max())


def _ranges(matrix: np.ndarray, cost: np.ndarray, bounds: list[np.ndarray],
            rhs: list[np.ndarray]) -> CoefficientRanges:
    return CoefficientRanges(matrix=span(matrix), cost=span(cost),
                             bound=span(np.concatenate(bounds)), rhs=span(np.concatenate(rhs)))


def _row_is_money(handoff: HandOff) -> np.ndarray:
    """Whether each row of `handoff.lp` belongs to a family of `MONEY_ROWS`."""
    constraint = [row.parent_component().local_name in MONEY_ROWS
                  for row in handoff.constraint_rows]
    blocks = [np.full(rows.size, name in MONEY_ROWS) for name, rows in handoff.block_rows.items()]
    return np.concatenate([np.asarray(constraint, dtype=bool), *blocks])


def _columns_of(built: BuiltModel, handoff: HandOff, families: set[str]) -> np.ndarray:
    """Whether each column of `handoff.lp` belongs to one of `families`."""
    mask = np.zeros(len(handoff.columns), dtype=bool)
    wanted = {id(v) for name in families if name in built.families
              for v in built.families[name].members()}
    if wanted:
        mask[[i for i, v in enumerate(handoff.columns) if id(v) in wanted]] = True
    return mask


def scaling_report(built: BuiltModel, handoff: HandOff, money_unit: float) -> Scaling:
    """The ranges HiGHS is handed, the same in currency, and a warning for every handed part
    beyond `WELL_HANDLED`."""
    lp, held = handoff.lp, handoff.held
    values = np.asarray(lp.a_matrix_.value_, dtype=float)
    index = np.asarray(lp.a_matrix_.index_, dtype=np.int64)
    start = np.asarray(lp.a_matrix_.start_, dtype=np.int64)
    cost = np.asarray(lp.col_cost_, dtype=float)
    bounds = [np.asarray(lp.col_lower_, dtype=float), np.asarray(lp.col_upper_, dtype=float)]
    row_lower = np.asarray(lp.row_lower_, dtype=float)
    row_upper = np.asarray(lp.row_upper_, dtype=float)
    held_values = np.asarray(held.matrix.data, dtype=float)
    handed = _ranges(np.concatenate([values, held_values]), cost, bounds,
                     [row_lower, row_upper, held.upper])

    money_row = _row_is_money(handoff)
    slack_families = {slack.family.name for slack in built.slacks}
    unscaled = _columns_of(built, handoff, set(MONEY_COLUMNS) | slack_families)
    column = np.repeat(np.arange(lp.num_col_), np.diff(start))
    priced = money_row[index] & ~unscaled[column]
    currency_values = np.where(priced, values * money_unit, values)
    currency_cost = np.where(~_columns_of(built, handoff, set(MONEY_COLUMNS)),
                             cost * money_unit, cost)
    factor = np.where(money_row, money_unit, 1.0)
    in_currency = _ranges(np.concatenate([currency_values, held_values]), currency_cost,
                          bounds, [row_lower * factor, row_upper * factor, held.upper])
    return Scaling(money_unit=money_unit, in_currency=in_currency, handed=handed,
                   warnings=range_warnings(handed))


def range_warnings(ranges: CoefficientRanges) -> list[str]:
    """A sentence for each part whose range goes beyond `WELL_HANDLED`, with the figures."""
    found = []
    for part, (low, high) in WELL_HANDLED.items():
        figures: Span | None = getattr(ranges, part)
        if figures is None:
            continue
        smallest, largest = figures
        if smallest < low or largest > high:
            found.append(f"HiGHS sees {_name(part)} from {smallest:.1e} to {largest:.1e},"
                         f" beyond the {_limits(low, high)} it handles well: the plan may be"
                         " inaccurate (check it)")
    return found


def _name(part: str) -> str:
    return {"matrix": "constraint coefficients", "cost": "objective coefficients",
            "bound": "variable bounds", "rhs": "constraint bounds"}[part]


def _limits(low: float, high: float) -> str:
    return f"{low:.0e} to {high:.0e}" if low > 0 else f"values up to {high:.0e}"


def span_text(figures: Span | None) -> str:
    """'[1e-06, 1e+06]', or 'none'."""
    return "none" if figures is None else f"[{figures[0]:.3g}, {figures[1]:.3g}]"


def describe(ranges: CoefficientRanges) -> str:
    """'matrix [1e-06, 1e+06], cost [...], bounds [...], rhs [...]' (absolute values)."""
    return (f"matrix {span_text(ranges.matrix)}, cost {span_text(ranges.cost)},"
            f" bounds {span_text(ranges.bound)}, rhs {span_text(ranges.rhs)}")


def ranges_by_part(scaling: Scaling) -> list[tuple[str, Span | None, Span | None]]:
    """(part, as handed, in currency) for matrix, cost, bound and rhs."""
    return [(part, getattr(scaling.handed, part), getattr(scaling.in_currency, part))
            for part in WELL_HANDLED]
