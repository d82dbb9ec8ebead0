"""Plans found before the MIP search: each fixes some integer decisions, solves what is left
(an LP, or a much smaller MIP) and hands the answer to HiGHS as a MIP start (the phases are
run by `optimizer.solve.phases`; docs/formulation.md says what each does).

- The idle plan (`idle_fixings`): nothing built, bought, made or shipped, demand unmet;
  only where unmet demand is allowed. A poor plan found in seconds, so that a short time
  limit on a large model still returns one.
- Greedy construction (`greedy_fixings`): candidate sites open, cheapest capacity first,
  until the open capacity covers each period's assembly hours with a margin; no existing
  site closes. It gives a plan before the LP relaxation of a large model is solved.
- LP-guided fixing (`lp_guided_fixings`): the relaxation's site, qualification and
  assignment decisions rounded; the flows are solved.
- A caller's MIP start (`SolveOptions.mip_start`, values per variable family): the named
  decisions are fixed and the rest solved.

Each restricted model is solved on an instance of HiGHS of its own (`solve_restricted`),
within its share of the time limit and stopped by the same deadline and cancel as the main
solve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import highspy
import numpy as np
import pandas as pd

from reshore.models.built import BuiltModel
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.solve.handoff import LpArrays
from reshore.optimizer.solve.options import MipStart

CAPACITY_MARGIN = 0.15
"""Greedy construction: open capacity covers each period's assembly hours plus this share,
since geography keeps some capacity from reaching some demand."""

LP_ZERO = 1e-4
"""LP values within this of a threshold count as reaching it. An interior-point solution
(the relaxation is solved without crossover when no row is held back) leaves decisions that
a vertex would leave at 0 at about 1e-9 to 1e-5, so the margin is wider than HiGHS's
tolerances: on synthetic M (seed 1) a margin of 1e-6 opened five sites where the vertex
solution opens three, 1e-4 and 1e-3 the same three."""


SITE_FAMILIES = ("open", "close")

IDLE_FAMILIES = ("open", "close", "buy", "make", "ship")
"""The decisions the idle plan holds at their lower bound."""

IDLE_SOURCE = "idle plan"


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


def idle_fixings(data: PreparedNetwork, families: Mapping[str, np.ndarray],
                 lp: LpArrays) -> list[Fixing]:
    """The plan that builds nothing and serves nothing: no candidate site opens, no site
    closes, and nothing is bought, made or shipped, so demand goes unmet (each such column at
    its lower bound, which keeps what a replan has fixed); as in the greedy construction,
    every offer and supplier is qualified and each single-sourced customer assigned, so that
    what is left is an LP. A plan only where unmet demand is
    allowed, and a poor one, but HiGHS finds it in seconds where the greedy construction's LP
    takes half a minute or more (synthetic L, XL): a solve with a short time limit still
    returns a plan. Empty when all demand must be met."""
    if data.unmet_penalty is None:
        return []
    lower = lp.col_lower
    held = [family for family in IDLE_FAMILIES if family in families]
    columns = [families[family] for family in held]
    values = [lower[np.maximum(families[family], 0)] for family in held]
    existing = set(data.sites.index[data.sites.status == "existing"])
    _qualify_all_and_assign(data, families, existing, columns, values)
    return [_fixing(np.concatenate(columns), np.concatenate(values), IDLE_SOURCE)]


def greedy_fixings(built: BuiltModel, data: PreparedNetwork,
                   families: Mapping[str, np.ndarray]) -> list[Fixing]:
    """Site starts chosen greedily: while some period's open capacity falls short of its
    assembly hours (worst scenario) plus `CAPACITY_MARGIN`, open the candidate site and
    tier, from the first short period it can operate in, whose opening and discounted fixed
    costs per hour of shortfall covered are lowest. Every possible closing is set to 0.

    Every offer and supplier is also qualified and each single-sourced customer assigned to
    its operating site with the cheapest lane, so what is left is an LP. (Fixing the sites
    alone and solving the rest as a MIP, where that LP has no plan, was dropped: on the
    flagship, where it has none either, it only cost time.) Empty when the model has no
    site decisions."""
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
    running = set(data.sites.index[data.sites.status == "existing"]) | set(starts)
    _qualify_all_and_assign(data, families, running, columns, values)
    return [_fixing(np.concatenate(columns), np.concatenate(values), "greedy construction")]


def _qualify_all_and_assign(data: PreparedNetwork, families: Mapping[str, np.ndarray],
                            operating: set[str], columns: list[np.ndarray],
                            values: list[np.ndarray]) -> None:
    """Append to a fixing's `columns` and `values`: every offer and supplier qualified, and
    each single-sourced customer assigned to the site of `operating` with the cheapest lane
    (`_nearest_operating_site`), so that with the sites fixed what is left is an LP."""
    for family in ("qualify", "supplier_qualified"):
        if family in families:
            columns.append(families[family])
            values.append(np.ones(families[family].size))
    if "assign" in families:
        columns.append(families["assign"])
        values.append(_nearest_operating_site(data, operating))


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


def lp_guided_fixings(built: BuiltModel, data: PreparedNetwork,
                      families: Mapping[str, np.ndarray], x_lp: np.ndarray) -> list[Fixing]:
    """Every integer decision rounded from the LP relaxation `x_lp`, so that what is left is
    an LP; two fixings, each to be solved.

    Every candidate site that the relaxation starts at all opens: in the first, from the
    first period it has capacity in the relaxation, at its smallest tier that holds the
    relaxation's largest capacity there (`_matched_starts`); in the second, at the tier and
    period of its largest start. An existing site closes when its closings add up to 1, in
    the period of the largest. Qualifications are rounded up; each single-sourced customer
    and product is assigned where its largest assignment is."""
    columns, values = [], []
    for family, group, at_least in (("close", "site", 1.0 - LP_ZERO),
                                    ("assign", ["customer", "product"], 0.0)):
        if family in families:
            columns.append(families[family])
            values.append(_largest(built, families, x_lp, family, group, at_least))
    for family in ("qualify", "supplier_qualified"):
        if family in families:
            columns.append(families[family])
            values.append((_values(families[family], x_lp) > LP_ZERO).astype(float))
    if "open" not in families:
        return [_fixing(np.concatenate(columns), np.concatenate(values), "LP rounding")] \
            if columns else []
    starts = {"LP rounding, capacity matched": _matched_starts(built, data, families, x_lp),
              "LP rounding, largest start": _largest(built, families, x_lp, "open", "site",
                                                     LP_ZERO)}
    return [_fixing(np.concatenate([*columns, families["open"]]),
                    np.concatenate([*values, opened]), source)
            for source, opened in starts.items()]


def _values(columns: np.ndarray, x_lp: np.ndarray) -> np.ndarray:
    return np.where(columns >= 0, x_lp[np.maximum(columns, 0)], 0.0)


def _largest(built: BuiltModel, families: Mapping[str, np.ndarray], x_lp: np.ndarray,
             family: str, group: str | list[str], at_least: float) -> np.ndarray:
    """1 for the member of largest LP value in each group whose values add up to at least
    `at_least`, else 0."""
    keys = built.families[family].keys.assign(x=_values(families[family], x_lp))
    grouped = keys.groupby(group, sort=False).x
    largest = keys.index.isin(grouped.idxmax().to_numpy())
    enough = grouped.transform("sum").to_numpy() >= at_least
    return (largest & enough).astype(float)


def _matched_starts(built: BuiltModel, data: PreparedNetwork,
                    families: Mapping[str, np.ndarray], x_lp: np.ndarray) -> np.ndarray:
    """Values of `open`: each candidate site with capacity in the relaxation starts in the
    first period it has any, at its smallest tier whose capacity holds the relaxation's
    largest (sum over tiers of capacity x tier_operating), or its largest tier."""
    operating = built.families["tier_operating"].keys.assign(
        x=_values(families["tier_operating"], x_lp)).merge(
        data.tiers[["site", "tier", "capacity_hours"]], on=["site", "tier"])
    operating["hours"] = operating.x * operating.capacity_hours
    used = operating[operating.x > LP_ZERO].groupby(["site", "period"]).hours.sum(
    ).reset_index()
    first = used.groupby("site").period.min()
    peak = used.groupby("site").hours.max()
    keys = built.families["open"].keys.merge(
        data.tiers[["site", "tier", "capacity_hours"]], on=["site", "tier"], how="left")
    at_first = keys.period.to_numpy() == keys.site.map(first).to_numpy()
    holds = keys.capacity_hours.to_numpy() >= keys.site.map(peak).to_numpy() * (1 - 1e-6)
    chosen = np.zeros(len(keys))
    candidates = keys[at_first].assign(holds=holds[at_first])
    for _, tiers in candidates.groupby("site", sort=False):
        fitting = tiers[tiers.holds]
        pick = (fitting.capacity_hours.idxmin() if len(fitting)
                else tiers.capacity_hours.idxmax())
        chosen[int(pick)] = 1.0
    return chosen


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


def _own_highs(lp: LpArrays, *, time_limit: float | None, options: Mapping[str, Any],
               stop: Callable[[], bool]) -> highspy.Highs:
    """An instance of HiGHS of its own holding `lp`, with `options` (HiGHS options by name),
    the time limit, and `stop` checked in every HiGHS callback that can interrupt."""
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
    lp.pass_to(h)
    return h


def holds_every_integer(lp: LpArrays, fixing: Fixing) -> bool:
    """Whether `fixing` holds every integer column of `lp` (of which it has some), so that
    what it leaves is an LP."""
    integer = np.flatnonzero(lp.integer)
    return bool(integer.size) and bool(np.isin(integer, fixing.columns).all())


def solve_restricted(lp: LpArrays, fixing: Fixing, *, time_limit: float | None,
                     options: Mapping[str, Any], stop: Callable[[], bool],
                     log: list[str], lp_solver: str = "ipm", crossover: bool = True
                     ) -> Start | None:
    """Solve `lp` with the fixing's columns held at its values, on an instance of HiGHS of
    its own (`options`: HiGHS options by name; `stop` interrupts it). When the fixing holds
    every integer column, what is left is solved as an LP by `lp_solver` (a MIP solve of it
    would spend its time on presolve and heuristics first), from an interior point to a
    vertex unless `crossover` is off. None when it ends without a plan."""
    count = int(fixing.columns.size)
    as_lp = holds_every_integer(lp, fixing)
    if as_lp:
        lp = replace(lp, integer=np.zeros_like(lp.integer))
    h = _own_highs(lp, time_limit=time_limit, options=options, stop=stop)
    if count:
        h.changeColsBounds(count, fixing.columns.astype(np.int32), fixing.values,
                           fixing.values)
    if as_lp:
        h.setOptionValue("solver", lp_solver)
        if not crossover:
            h.setOptionValue("run_crossover", "off")
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


def solve_relaxation(lp: LpArrays, *, time_limit: float | None, options: Mapping[str, Any],
                     stop: Callable[[], bool], lp_solver: str = "ipm"
                     ) -> tuple[float, np.ndarray | None]:
    """The LP relaxation of `lp` on an instance of HiGHS of its own: its optimum (a lower
    bound of the model) and its solution, or (-inf, None) when it ends without one. With
    interior point (`lp_solver` "ipm") it stops at the optimum without crossing over to a
    vertex: nothing warm-starts from its basis, and the MIP solves its own root LP (on
    synthetic M seed 1 that LP took 15 s without crossover and 23 s with it); the solution
    is then an interior point, which the LP-guided fixing rounds with `LP_ZERO`. An interior
    point that HiGHS cannot call optimal is solved once more by simplex."""
    h = _own_highs(replace(lp, integer=np.zeros_like(lp.integer)), time_limit=time_limit,
                   options=options, stop=stop)
    h.setOptionValue("solver", lp_solver)
    h.setOptionValue("run_crossover", "off")
    h.run()
    if h.getModelStatus() == highspy.HighsModelStatus.kUnknown and not stop():
        h.setOptionValue("solver", "simplex")
        h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return -np.inf, None
    return (float(h.getInfo().objective_function_value),
            np.asarray(h.getSolution().col_value, dtype=float))
