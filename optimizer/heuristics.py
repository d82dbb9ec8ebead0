"""Plans found before the MIP search: each fixes some integer decisions, solves what is left
(a much smaller MIP) and hands the answer to HiGHS as a MIP start.

- Greedy construction (`greedy_fixings`): open candidate sites, cheapest capacity first, until
  the open capacity covers each period's assembly hours with a margin; no existing site
  closes. Everything else (flows, qualifications, single-source assignments) is solved.
  It gives a plan within seconds, before the LP relaxation of a large model is solved.
- LP-guided fixing (`lp_guided_fixings`): every integer decision whose value in the LP
  relaxation is integral keeps that value; the fractional ones and the flows are solved
  (relaxation-enforced neighbourhood search). Where the relaxation is tight, as on the
  synthetic networks, few decisions are fractional and the restricted MIP is small.
- A caller's MIP start (`SolveOptions.mip_start`, values per variable family): the named
  decisions are fixed and the rest solved the same way.

Each restricted model is solved on an instance of HiGHS of its own, within its share of the
time limit and stopped by the same deadline and cancel as the main solve; an answer is kept
only when it also meets the rows the solve holds back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import pandas as pd

from reshore.models.built import BuiltModel
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.solve.options import MipStart

CAPACITY_MARGIN = 0.15
"""Greedy construction: open capacity covers each period's assembly hours plus this share,
since geography keeps some capacity from reaching some demand."""

INTEGRAL = 1e-6
"""LP values within this of a threshold count as reaching it."""

ROUNDING_THRESHOLDS = (0.5, INTEGRAL)
"""LP-guided fixing: a site opens when its starts in the relaxation add up to at least the
threshold; the first rounds to the nearest, the second opens every site the relaxation uses."""

SITE_FAMILIES = ("open", "close")


@dataclass(frozen=True)
class Start:
    """A plan of the whole model: one value per column, its objective in model units."""

    values: np.ndarray
    objective: float
    source: str


@dataclass(frozen=True)
class Fixing:
    """Columns held at given values in a restricted model."""

    columns: np.ndarray
    values: np.ndarray
    source: str


def family_columns(built: BuiltModel, columns: list[Any]) -> dict[str, np.ndarray]:
    """Column of each member of each variable family, in the family's declaration order
    (-1 for a member that is in no row and so not handed to HiGHS)."""
    column_of = {id(v): i for i, v in enumerate(columns)}
    return {name: np.fromiter((column_of.get(id(v), -1) for v in family.members()),
                              np.int64, family.size)
            for name, family in built.families.items()}


def greedy_fixings(built: BuiltModel, data: PreparedNetwork,
                   families: Mapping[str, np.ndarray]) -> list[Fixing]:
    """Site starts chosen greedily: while some period's open capacity falls short of its
    assembly hours (worst scenario) plus `CAPACITY_MARGIN`, open the candidate site and
    tier, from the first short period it can operate in, whose opening and discounted fixed
    costs per hour of shortfall covered are lowest. Every possible closing is set to 0.

    Two fixings, to be tried in turn: the first also qualifies every offer and supplier and
    assigns each single-sourced customer to its operating site with the cheapest lane (what
    is left is an LP); the second fixes the sites only. Empty when the model has no site
    decisions."""
    if "open" not in families and "close" not in families:
        return []
    horizon = len(data.periods)
    hours = data.products.set_index("product").assembly_hours
    demand = data.demand.assign(hours=data.demand["product"].map(hours) * data.demand.quantity)
    need = demand.groupby(["period", "scenario"]).hours.sum().groupby(level="period").max()
    target = need.reindex(range(horizon), fill_value=0.0).to_numpy() * (1 + CAPACITY_MARGIN)
    operating = data.operating
    existing = operating[operating.status == "existing"]
    have = existing.groupby("period").capacity_hours.sum().reindex(
        range(horizon), fill_value=0.0).to_numpy(dtype=float).copy()
    first = data.openings.groupby(["site", "tier"], sort=False).period.min().reset_index()
    candidates = first.merge(data.tiers, on=["site", "tier"])
    discount = data.discount
    starts: dict[str, tuple[str, int]] = {}
    while candidates.size:
        short = np.flatnonzero(have < target - 1e-9)
        if short.size == 0:
            break
        begin = np.maximum(candidates.period.to_numpy(), short[0])
        capacity = candidates.capacity_hours.to_numpy(dtype=float)
        shortfall = np.maximum(0.0, target - have)
        reach = np.arange(horizon)[None, :] >= begin[:, None]
        covered = (np.minimum(capacity[:, None], shortfall[None, :]) * reach).sum(axis=1)
        cost = (candidates.opening_cost.to_numpy(dtype=float) * discount[begin]
                + candidates.fixed_cost_per_period.to_numpy(dtype=float)
                * (reach * discount[None, :]).sum(axis=1))
        per_hour = np.where(covered > 0, cost / np.maximum(covered, 1e-9), np.inf)
        best = int(np.argmin(per_hour))
        if not np.isfinite(per_hour[best]):
            break
        site = str(candidates.site.iloc[best])
        starts[site] = (str(candidates.tier.iloc[best]), int(begin[best]))
        have[begin[best]:] += capacity[best]
        candidates = candidates[candidates.site != site]
    columns, values = [], []
    if "open" in families:
        keys = built.families["open"].keys
        chosen = np.fromiter(((k, tier, t) == (k, *starts.get(k, ("", -1)))
                              for k, tier, t in keys[["site", "tier", "period"]].itertuples(
                                  index=False, name=None)), bool, len(keys))
        columns.append(families["open"])
        values.append(chosen.astype(float))
    if "close" in families:
        columns.append(families["close"])
        values.append(np.zeros(families["close"].size))
    sites = _fixing(np.concatenate(columns), np.concatenate(values), "greedy construction")
    for family in ("qualify", "supplier_qualified"):
        if family in families:
            columns.append(families[family])
            values.append(np.ones(families[family].size))
    if "assign" in families:
        running = set(data.sites.index[data.sites.status == "existing"]) | set(starts)
        columns.append(families["assign"])
        values.append(_nearest_operating_site(data, running))
    whole = _fixing(np.concatenate(columns), np.concatenate(values), "greedy construction")
    return [whole, sites] if whole.columns.size > sites.columns.size else [sites]


def _nearest_operating_site(data: PreparedNetwork, operating: set[str]) -> np.ndarray:
    """1 for the assignment of each single-sourced customer and product to the operating
    site with the cheapest lane (any site when none of its sites operates), else 0; in the
    order of `data.single_source`."""
    lanes = data.shipments.groupby(["site", "customer", "product"]).transport_cost_per_unit.mean()
    options = data.single_source[["site", "customer", "product"]].reset_index(drop=True)
    cost = lanes.reindex(pd.MultiIndex.from_frame(options)).to_numpy(dtype=float)
    cost = np.where(options.site.isin(operating).to_numpy(), cost, cost + 1e12)
    ranked = options.assign(cost=np.nan_to_num(cost, nan=np.inf))
    first = ranked.groupby(["customer", "product"]).cost.idxmin()
    chosen = np.zeros(len(options))
    chosen[first.to_numpy()] = 1.0
    return chosen


def lp_guided_fixings(built: BuiltModel, families: Mapping[str, np.ndarray],
                      x_lp: np.ndarray) -> list[Fixing]:
    """Every integer decision rounded from the LP relaxation `x_lp`, so that what is left is
    an LP; one fixing per threshold of `ROUNDING_THRESHOLDS`, to be tried in turn.

    A candidate site opens when its starts add up to at least the threshold, at the tier and
    period of its largest start; an existing site closes when its closings add up to at least
    1 - threshold, in the period of the largest. Qualifications are rounded up; each
    single-sourced customer and product is assigned where its largest assignment is."""
    fixings = []
    for threshold in ROUNDING_THRESHOLDS:
        columns, values = [], []
        for family, group, at_least in (("open", "site", threshold),
                                        ("close", "site", 1 - threshold),
                                        ("assign", ["customer", "product"], 0.0)):
            if family not in families:
                continue
            cols = families[family]
            x = np.where(cols >= 0, x_lp[np.maximum(cols, 0)], 0.0)
            keys = built.families[family].keys.assign(x=x)
            grouped = keys.groupby(group, sort=False).x
            largest = keys.index.isin(grouped.idxmax().to_numpy())
            enough = grouped.transform("sum").to_numpy() >= at_least - INTEGRAL
            columns.append(cols)
            values.append((largest & enough).astype(float))
        for family in ("qualify", "supplier_qualified"):
            if family in families:
                cols = families[family]
                x = np.where(cols >= 0, x_lp[np.maximum(cols, 0)], 0.0)
                columns.append(cols)
                values.append((x > INTEGRAL).astype(float))
        if columns:
            fixings.append(_fixing(np.concatenate(columns), np.concatenate(values),
                                   f"LP rounding at {threshold:g}"))
    return fixings


def mip_start_fixings(built: BuiltModel, families: Mapping[str, np.ndarray],
                      start: MipStart) -> Fixing:
    """The caller's values, by family and index."""
    columns, values = [], []
    for family, given in start.items():
        if family not in families:
            raise ValueError(f"mip_start names {family!r}, which is not a variable family of"
                             " the model")
        position = {key: i for i, key in enumerate(built.families[family].variable.keys())}
        for key, value in given.items():
            if key not in position:
                raise ValueError(f"mip_start: {family} has no member {key!r}")
            columns.append(int(families[family][position[key]]))
            values.append(float(value))
    return _fixing(np.asarray(columns, np.int64), np.asarray(values, float), "given start")


def _fixing(columns: np.ndarray, values: np.ndarray, source: str) -> Fixing:
    """Leave out members that are in no row (column -1)."""
    present = columns >= 0
    return Fixing(columns=columns[present], values=values[present], source=source)


def solve_restricted(lp: highspy.HighsLp, fixing: Fixing, *, time_limit: float | None,
                     options: Mapping[str, Any], stop: Callable[[], bool],
                     log: list[str]) -> Start | None:
    """Solve `lp` with the fixing's columns held at its values, on an instance of HiGHS of
    its own (`options`: HiGHS options by name; `stop` interrupts it). None when it ends
    without a plan."""
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    for name, value in options.items():
        h.setOptionValue(name, value)
    if time_limit is not None:
        h.setOptionValue("time_limit", max(time_limit, 1e-3))

    def interrupt(event: Any) -> None:
        if stop():
            event.interrupt()

    h.cbMipInterrupt += interrupt
    h.cbSimplexInterrupt += interrupt
    h.cbIpmInterrupt += interrupt
    h.passModel(lp)
    count = int(fixing.columns.size)
    if count:
        h.changeColsBounds(count, fixing.columns.astype(np.int32), fixing.values,
                           fixing.values)
    h.run()
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    if info.primal_solution_status != 2:
        log.append(f"{fixing.source}: no plan ({status.lower()})")
        return None
    values = np.asarray(h.getSolution().col_value, dtype=float)
    log.append(f"{fixing.source}: plan of objective {info.objective_function_value:.6g}"
               f" ({count} columns fixed; {status.lower()})")
    return Start(values=values, objective=float(info.objective_function_value),
                 source=fixing.source)
