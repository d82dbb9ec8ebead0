"""Replans: re-optimise a plan on new data, keeping what is done and committed and changing
the rest only where a change pays.

Given the previous plan, a new instance and the period `now`:

- **History** (periods before `now`): purchases, production and shipments are fixed to the
  actuals where given (tables in the plan's own shape) and to the previous plan elsewhere;
  so are site openings and closings, and the qualifications of offers bought from.
- **Committed sites**: a site the previous plan opened before `now`, or whose construction
  had started by `now` (opening period minus `build_periods` before `now`), keeps its opening
  at its tier, so a built tier is never rebuilt. It stays open unless closing it pays its
  closing cost: the replan's model may close it (`committed_sites`, handed to `solve` as
  `closable`), from `now` on, as it may close an existing site.
- **Frozen window** (`freeze` periods from `now`): purchases, production and shipments keep
  the previous plan's quantities. Each may deviate through priced deviation variables whose
  price per unit (`frozen_change_price`) exceeds any cost a change could save, so a deviation
  happens only where the new data leaves no other way, and is the smallest such change; each
  one is reported as a forced change.
- **Beyond the window**: a change penalty per unit moved (|quantity - previous quantity|,
  weighted by the scenario's probability) keeps the plan where a change saves little. One
  value for every flow table, or one per table (sourcing, production, shipments). Penalty 0
  is a solve from scratch with the history fixed.
- **Warm start**: the previous plan's site, tier, qualification and sourcing-assignment
  decisions are handed to HiGHS as a MIP start; HiGHS completes the flows with an LP and
  says in its log whether that gave a feasible plan (`Replan.warm_start`).

The replan's plan is an ordinary plan (its objective is the plan's cost under the
instance's risk measure; the change penalties paid are reported beside it) and it carries
its diff against the previous plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from reshore.models.built import BuiltModel
from reshore.models.linear_rows import Rows
from reshore.optimizer.diff import (
    DIFF_KEYS,
    PlanDiff,
    PlanFolderError,
    PlanTables,
    diff_plans,
    read_plan,
    read_plan_table,
)
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.results import Plan
from reshore.optimizer.schema import Network
from reshore.optimizer.solve import Amend, MipStart, SolveOptions, solve
from reshore.optimizer.solve.highs import start_verdict

FLOW_TABLES: dict[str, tuple[str, list[str]]] = {
    "sourcing": ("buy", ["offer", "site", "period", "scenario"]),
    "production": ("make", ["site", "product", "period", "scenario"]),
    "shipments": ("ship", ["site", "customer", "product", "period", "scenario"]),
}
"""Plan table -> (model variable family, its key columns): the flows a replan keeps."""

FROZEN_PRICE_FACTOR = 10.0
"""A frozen flow's deviation costs this many times the largest single cost figure of the
instance per unit (see `frozen_change_price`)."""

class ReplanError(ValueError):
    """Replan options that do not fit the instance or the previous plan."""


@dataclass(frozen=True)
class ReplanOptions:
    """How a replan treats the previous plan."""

    now: str
    """The first period that is not history (a label of the new instance's periods)."""
    freeze: int = 0
    """Periods from `now` whose flows keep the previous plan's quantities."""
    change_penalty: float | Mapping[str, float] = 0.0
    """Price per unit moved beyond the frozen window: one value, or per flow table."""
    warm_start: bool = True
    """Hand the previous plan to HiGHS as a MIP start."""

    def penalty_of(self, table: str) -> float:
        if isinstance(self.change_penalty, Mapping):
            return float(self.change_penalty.get(table, 0.0))
        return float(self.change_penalty)


@dataclass(frozen=True)
class ForcedChange:
    """A history or frozen-window flow that the new data did not allow to keep."""

    table: str
    key: dict[str, Any]
    planned: float
    replanned: float
    where: str
    """'history' or 'frozen window'."""

    def __str__(self) -> str:
        key = ", ".join(f"{k} {v}" for k, v in self.key.items())
        return (f"{self.where}: {self.table} ({key}) changed from {self.planned:,.6g}"
                f" to {self.replanned:,.6g}")


@dataclass
class Replan:
    """A replan's plan, its diff against the previous plan and what it had to change."""

    plan: Plan
    diff: PlanDiff
    forced_changes: list[ForcedChange]
    change_penalty_paid: float | None
    """Change penalties (currency) of the flows moved beyond the frozen window (the
    solved objective is the plan's cost plus these, plus the price of forced changes)."""
    warm_start: str
    """What HiGHS said of the MIP start."""
    options: ReplanOptions
    history_periods: list[str] = field(default_factory=list)
    frozen_periods: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """replan.json: the options, forced changes, warm start and the diff."""
        penalty = self.options.change_penalty
        return {"now": self.options.now, "freeze": self.options.freeze,
                "change_penalty": dict(penalty) if isinstance(penalty, Mapping) else penalty,
                "history_periods": self.history_periods,
                "frozen_periods": self.frozen_periods,
                "change_penalty_paid": self.change_penalty_paid,
                "warm_start": self.warm_start,
                "forced_changes": [{"table": c.table, "where": c.where, **c.key,
                                    "planned": c.planned, "replanned": c.replanned}
                                   for c in self.forced_changes],
                "diff": self.diff.to_json()}

    def write(self, folder: str | Path) -> Path:
        """The plan's files (as `reshore solve` writes them) plus replan.json."""
        target = self.plan.write(folder)
        (target / "replan.json").write_text(json.dumps(self.report(), indent=2, default=str))
        return target


# --- inputs ---------------------------------------------------------------------------------


def read_actuals(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The actuals tables found in `folder` (sourcing, production, shipments and sites CSVs
    in the plan's own shape); at least one must be there."""
    target = Path(folder)
    tables = {name: read_plan_table(target / f"{name}.csv", name)
              for name in (*FLOW_TABLES, "sites") if (target / f"{name}.csv").is_file()}
    if not tables:
        raise PlanFolderError(f"{target} holds no actuals: expected sourcing.csv,"
                              " production.csv, shipments.csv or sites.csv")
    return tables


def with_actuals(previous: PlanTables, actuals: Mapping[str, pd.DataFrame], periods: list[str],
                 now: int) -> PlanTables:
    """The previous plan with its history replaced by the actuals, table by table: a flow
    table's rows before `now` come from the actuals where that table is given; a site row
    from the actuals where that site is given."""
    tables = dict(previous.tables)
    history = set(periods[:now])
    for name, actual in actuals.items():
        if name == "sites":
            kept = tables[name][~tables[name].site.isin(set(actual.site))]
            tables[name] = pd.concat([kept, actual], ignore_index=True)
            continue
        planned = tables[name]
        tables[name] = pd.concat([planned[~planned.period.isin(history)],
                                  actual[actual.period.isin(history)]], ignore_index=True)
    return PlanTables(tables=tables, summary=previous.summary)


def _period_index(options: ReplanOptions, periods: list[str]) -> int:
    if options.now not in periods:
        raise ReplanError(f"now: period '{options.now}' is not one of the instance's periods"
                          f" ({', '.join(periods)})")
    if options.freeze < 0:
        raise ReplanError(f"freeze: {options.freeze} periods; give 0 or more")
    if isinstance(options.change_penalty, Mapping):
        unknown = sorted(set(options.change_penalty) - set(FLOW_TABLES))
        if unknown:
            raise ReplanError(f"change_penalty: no flow table {', '.join(unknown)}; the tables"
                              f" are {', '.join(FLOW_TABLES)}")
    if any(options.penalty_of(t) < 0 for t in FLOW_TABLES):
        raise ReplanError("change_penalty: give a value of 0 or more")
    return periods.index(options.now)


# --- the model changes ----------------------------------------------------------------------


def frozen_change_price(data: PreparedNetwork) -> float:
    """Price per unit of a deviation from a frozen flow: FROZEN_PRICE_FACTOR times the
    largest one-time or per-unit cost figure of the instance, so that no saving elsewhere
    pays for a deviation that the data does not force."""
    figures = [1.0, float(data.unmet_penalty or 0.0)]
    for frame, column in ((data.openings, "opening_cost"), (data.closings, "closing_cost"),
                          (data.offers, "qualification_cost"),
                          (data.purchases, "unit_price"),
                          (data.purchases, "transport_cost_per_unit"),
                          (data.production, "cost_per_unit"),
                          (data.shipments, "transport_cost_per_unit"),
                          (data.tiers, "fixed_cost_per_period")):
        if len(frame):
            figures.append(float(frame[column].max()))
    if len(data.products):
        figures.append(float(data.products.unit_value.fillna(0.0).max()))
    return FROZEN_PRICE_FACTOR * max(figures)


def _targets(built: BuiltModel, table: str, planned: pd.DataFrame,
             periods: list[str]) -> pd.DataFrame:
    """Every variable of the table's family with its planned quantity (0 where the plan has
    none): its key columns, `position` and `target`."""
    family, keys = FLOW_TABLES[table]
    variables = built.families[family].keys
    index = {label: i for i, label in enumerate(periods)}
    rows = planned[[*keys, "quantity"]].copy()
    rows["period"] = rows.period.map(index)
    rows = rows.dropna(subset=["period"]).astype({"period": np.int64})
    summed = rows.groupby(keys).quantity.sum().reset_index()
    found = variables.merge(summed, on=keys, how="left", sort=False)
    found["target"] = found.quantity.fillna(0.0)
    return found.drop(columns="quantity")


def _pin(variable: Any, value: float) -> None:
    """Bound a variable to one value. (Not Pyomo's `fix`: a fixed variable leaves the
    compiled columns, while the model's row blocks still count on it as a column.)"""
    variable.setlb(value)
    variable.setub(value)


def _fix_history(built: BuiltModel, table: str, targets: pd.DataFrame, now: int) -> None:
    """Bound each flow before `now` to its planned (or actual) quantity."""
    family, _ = FLOW_TABLES[table]
    members = built.families[family].members()
    history = targets[targets.period < now]
    for position, target in zip(history.position, history.target, strict=True):
        _pin(members[int(position)], float(target))


def _price_deviations(built: BuiltModel, data: PreparedNetwork, table: str,
                      targets: pd.DataFrame, prices: np.ndarray) -> Any:
    """x - increase + decrease = planned for the flows with a price; returns the objective
    term sum p_s price (increase + decrease), in the model's money units."""
    family, keys = FLOW_TABLES[table]
    priced = targets[prices > 0].reset_index(drop=True)
    price = prices[prices > 0]
    if priced.empty:
        return 0.0
    for direction in ("increase", "decrease"):
        built.declare(f"{family}_{direction}", f"{family.upper()}_{direction.upper()}_KEYS",
                      priced[keys], table=None, domain=pyo.NonNegativeReals)
    every = np.arange(len(priced))
    rows = Rows(len(priced))
    rows.add(family, every, built.positions(family, priced[keys]), 1.0)
    rows.add(f"{family}_increase", every, every, -1.0)
    rows.add(f"{family}_decrease", every, every, 1.0)
    target = priced.target.to_numpy(dtype=float)
    built.add_block(f"{family}_replan_deviation", rows, target, target)
    weight = priced.scenario.map(data.probability).to_numpy(dtype=float) * price / (
        data.money_unit)
    deviations = [*built.families[f"{family}_increase"].members(),
                  *built.families[f"{family}_decrease"].members()]
    return LinearExpression(linear_coefs=[float(w) for w in np.concatenate([weight, weight])],
                            linear_vars=deviations)


def _site_starts(previous: PlanTables, periods: list[str]) -> dict[str, tuple[str, int]]:
    """Candidate sites the previous plan opens (and may have closed since): site -> (tier,
    opening period index)."""
    sites = previous.tables["sites"]
    index = {label: i for i, label in enumerate(periods)}
    opened = sites[sites.status.isin(["open", "closed"]) & sites.open_period.isin(set(index))]
    return {str(k): (str(tier), index[str(t)]) for k, tier, t in
            opened[["site", "tier", "open_period"]].itertuples(index=False, name=None)}


def _site_closings(previous: PlanTables, periods: list[str]) -> dict[str, int]:
    sites = previous.tables["sites"]
    index = {label: i for i, label in enumerate(periods)}
    closed = sites[(sites.status == "closed") & sites.close_period.isin(set(index))]
    return {str(k): index[str(t)] for k, t in
            closed[["site", "close_period"]].itertuples(index=False, name=None)}


def committed_sites(network: Network, previous: PlanTables, now: int) -> dict[str, str]:
    """Candidate sites the previous plan opened before `now` or whose construction had
    started by `now`: site -> the tier it opens at. The replan keeps their openings; they
    may close at their closing cost."""
    periods = list(network.settings.periods)
    build = {site.site: site.build_periods for site in network.sites
             if site.status == "candidate"}
    return {k: tier for k, (tier, t) in _site_starts(previous, periods).items()
            if k in build and t - build[k] < now}


def _keep_committed_sites(model: Any, data: PreparedNetwork, previous: PlanTables,
                          now: int) -> None:
    """Openings and closings before `now` are fixed; an opening whose construction started
    before `now` is kept at its tier; no other opening or closing happens before `now`."""
    starts = _site_starts(previous, data.periods)
    for k, tier, t in model.OPENINGS:
        if t < now:
            _pin(model.open[k, tier, t], 1.0 if starts.get(k) == (tier, t) else 0.0)
    for k in committed_sites(data.network, previous, now):
        tier, t = starts[k]
        if t >= now and (k, tier, t) in model.open:
            _pin(model.open[k, tier, t], 1.0)
    closings = _site_closings(previous, data.periods)
    for k, t in model.CLOSINGS:
        if t < now:
            _pin(model.close[k, t], 1.0 if closings.get(k) == t else 0.0)


def _keep_used_qualifications(model: Any, previous: PlanTables, periods: list[str],
                              now: int) -> None:
    """An offer the previous plan qualified and bought from before `now` stays qualified."""
    sourcing = previous.tables["sourcing"]
    bought = set(sourcing[sourcing.period.isin(set(periods[:now]))].offer)
    for offer in previous.tables["qualifications"].offer:
        if offer in bought and offer in model.QUALIFIED_OFFERS:
            _pin(model.qualify[offer], 1.0)


def warm_start_values(model: Any, data: PreparedNetwork, previous: PlanTables) -> MipStart:
    """The previous plan's integer decisions on the new model: openings (site, tier,
    period), closings, qualifications and single-sourcing assignments."""
    start: MipStart = []
    starts = _site_starts(previous, data.periods)
    for k, tier, t in model.OPENINGS:
        start.append((model.open[k, tier, t], 1.0 if starts.get(k) == (tier, t) else 0.0))
    closings = _site_closings(previous, data.periods)
    for k, t in model.CLOSINGS:
        start.append((model.close[k, t], 1.0 if closings.get(k) == t else 0.0))
    qualified = set(previous.tables["qualifications"].offer)
    for o in model.QUALIFIED_OFFERS:
        start.append((model.qualify[o], 1.0 if o in qualified else 0.0))
    if hasattr(model, "assign"):
        shipped = previous.tables["shipments"]
        used = set(shipped[["site", "customer", "product"]].itertuples(index=False, name=None))
        for key in model.ASSIGNMENTS:
            start.append((model.assign[key], 1.0 if key in used else 0.0))
    if hasattr(model, "supplier_qualified"):
        offers = data.offers
        covered = {(offers.supplier[o], offers.component[o]) for o in qualified
                   if o in offers.index}
        for sigma, c in model.SUPPLIER_COMPONENTS:
            start.append((model.supplier_qualified[sigma, c],
                          1.0 if (sigma, c) in covered else 0.0))
    return start


def amend_for_replan(previous: PlanTables, options: ReplanOptions) -> Amend:
    """The `solve` amendment of a replan: history fixed, committed sites kept, frozen and
    later flows priced by their deviation from `previous`, and the MIP start."""

    def amend(built: BuiltModel, data: PreparedNetwork) -> MipStart | None:
        model = built.model
        now = data.periods.index(options.now)
        end = now + options.freeze
        frozen_price = frozen_change_price(data)
        penalty: Any = 0.0
        for table in FLOW_TABLES:
            targets = _targets(built, table, previous.tables[table], data.periods)
            _fix_history(built, table, targets, now)
            period = targets.period.to_numpy()
            prices = np.where(period < now, 0.0, np.where(period < end, frozen_price,
                                                           options.penalty_of(table)))
            penalty = penalty + _price_deviations(built, data, table, targets, prices)
        if not isinstance(penalty, float):
            model.objective.set_value(model.objective.expr + penalty)
        _keep_committed_sites(model, data, previous, now)
        _keep_used_qualifications(model, previous, data.periods, now)
        return warm_start_values(model, data, previous) if options.warm_start else None

    return amend


# --- the replan -----------------------------------------------------------------------------


def replan(network: Network, previous: PlanTables | Plan | str | Path, options: ReplanOptions,
           solve_options: SolveOptions | None = None,
           actuals: Mapping[str, pd.DataFrame] | str | Path | None = None) -> Replan:
    """Replan `network` from the previous plan (a `Plan`, its tables, or its folder)."""
    periods = list(network.settings.periods)
    now = _period_index(options, periods)
    if isinstance(previous, str | Path):
        previous = read_plan(previous)
    elif isinstance(previous, Plan):
        previous = PlanTables.of(previous)
    if isinstance(actuals, str | Path):
        actuals = read_actuals(actuals)
    kept = with_actuals(previous, actuals, periods, now) if actuals else previous
    plan = solve(network, solve_options, amend=amend_for_replan(kept, options),
                 closable=committed_sites(network, kept, now))
    paid = None
    if plan.has_solution and plan.objective is not None:
        plan = replace(plan, objective=plan_objective(plan))
        paid = change_penalty_paid(kept, plan, options, periods[now + options.freeze:])
    elif not plan.has_solution:
        plan.diagnosis.append(
            "the replan keeps the decisions before period"
            f" '{options.now}' as the actuals or the previous plan made them; the new data"
            " may not allow them")
    forced = forced_changes(kept, plan, periods, now, now + options.freeze) if (
        plan.has_solution) else []
    return Replan(plan=plan, diff=diff_plans(previous, plan), forced_changes=forced,
                  change_penalty_paid=paid, warm_start=warm_start_outcome(plan.log, options),
                  options=options, history_periods=periods[:now],
                  frozen_periods=periods[now:now + options.freeze])


def plan_objective(plan: Plan) -> float:
    """The plan's cost under its risk measure (the solve's objective without the change
    penalties)."""
    risk = plan.risk
    expected = plan.expected_cost() or 0.0
    weight = float(risk.get("weight", 0.0))
    if risk.get("measure") == "cvar" and weight:
        return (1 - weight) * expected + weight * (plan.cvar() or 0.0)
    if risk.get("measure") == "worst_case" and weight:
        return (1 - weight) * expected + weight * (plan.worst_case_cost() or 0.0)
    return expected


def change_penalty_paid(kept: PlanTables, plan: Plan, options: ReplanOptions,
                        priced_periods: list[str]) -> float:
    """The change penalties of the flows beyond the frozen window: per table, its price
    times the probability-weighted units moved."""
    window = set(priced_periods)
    paid = 0.0
    for table in FLOW_TABLES:
        price = options.penalty_of(table)
        if price == 0:
            continue
        before, after = kept.tables[table], plan.tables[table]
        rows = diff_plans(PlanTables({table: before[before.period.isin(window)]}, {}),
                          PlanTables({table: after[after.period.isin(window)]}, {}),
                          tables=[table]).tables[table].rows
        moved = (rows.quantity_after.fillna(0.0) - rows.quantity_before.fillna(0.0)).abs()
        paid += price * float((moved * rows.scenario.map(plan.scenarios).fillna(0.0)).sum())
    return paid


def forced_changes(kept: PlanTables, plan: Plan, periods: list[str], now: int,
                   end: int) -> list[ForcedChange]:
    """Flows before the end of the frozen window whose quantity differs from what was kept."""
    window = set(periods[:end])
    history = set(periods[:now])
    changes = []
    for table in FLOW_TABLES:
        keys = DIFF_KEYS[table]
        planned = kept.tables[table]
        replanned = plan.tables[table]
        diff = diff_plans(
            PlanTables({table: planned[planned.period.isin(window)]}, {}),
            PlanTables({table: replanned[replanned.period.isin(window)]}, {}),
            tables=[table]).tables[table]
        for row in diff.rows.to_dict("records"):
            changes.append(ForcedChange(
                table=table, key={k: row[k] for k in keys},
                planned=float(np.nan_to_num(row["quantity_before"])),
                replanned=float(np.nan_to_num(row["quantity_after"])),
                where="history" if row["period"] in history else "frozen window"))
    return changes


def warm_start_outcome(log: list[str], options: ReplanOptions) -> str:
    """What HiGHS's log says of the MIP start (`start_verdict`), or 'not given'."""
    return start_verdict(log) if options.warm_start else "not given"
