"""The plan: a typed result with status, bound, timings, tidy tables keyed by the input's ids,
and the KPIs a planner reads first. Written as CSV files plus one xlsx workbook.

Flow tables carry nominal amounts (what is paid, undiscounted); the `costs` table carries
present values per scenario and category, which add up to each scenario's cost in the
objective.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reshore.models.built import BuiltModel
from reshore.optimizer.costs import CATEGORIES, KEYS, ONE_TIME, unit_costs
from reshore.optimizer.plan_files import site_decisions, sorted_tables, write_plan
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.schema import Network

QUANTITY_TOLERANCE = 1e-6
"""Flows below this are solver noise and are left out of the tables."""


class PlanStatus(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    """A plan exists but optimality is not proven to the requested gap."""
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"
    """The time limit came before any plan."""
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Timings:
    prepare: float
    build: float
    handoff: float
    solve: float


@dataclass(frozen=True)
class ModelSize:
    variables: int
    integer_variables: int
    constraints: int
    nonzeros: int


Span = tuple[float, float]
"""(smallest, largest) absolute value."""


@dataclass(frozen=True)
class CoefficientRanges:
    """Smallest and largest absolute nonzero finite value in each part of a model handed to
    HiGHS (None where the part has no such value), held-back rows included."""

    matrix: Span | None
    cost: Span | None
    bound: Span | None
    """Column bounds."""
    rhs: Span | None
    """Row bounds."""


@dataclass(frozen=True)
class Scaling:
    """How the model was scaled for HiGHS and the coefficient ranges it saw
    (see `optimizer.solve.scaling`)."""

    money_unit: float
    """Currency units per money unit of the model."""
    in_currency: CoefficientRanges
    """The ranges before scaling: the same model with money counted in currency."""
    handed: CoefficientRanges
    """The ranges HiGHS was handed."""
    warnings: list[str] = field(default_factory=list)
    """Parts whose range, after scaling, is beyond what HiGHS handles well."""


TABLE_COLUMNS: dict[str, list[str]] = {
    "sites": ["site", "tier", "open_period", "close_period", "status", "country"],
    "sourcing": ["scenario", "period", "offer", "supplier", "component", "origin_country",
                 "site", "arrival_period", "quantity", "purchase_cost", "tariff_cost",
                 "transport_cost"],
    "production": ["scenario", "period", "site", "product", "quantity", "cost"],
    "shipments": ["scenario", "period", "site", "customer", "product", "quantity",
                  "arrival_period", "transport_cost", "tariff_cost"],
    "inventory": ["scenario", "period", "site", "item", "kind", "quantity"],
    "unmet": ["scenario", "period", "customer", "product", "quantity"],
    "costs": ["scenario", "category", "amount"],
    "qualifications": ["offer", "supplier", "component", "qualification_cost"],
    "utilisation": ["scenario", "period", "site", "hours_used", "capacity_hours"],
}
"""The plan's tables and their columns, in writing order."""


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame(columns=TABLE_COLUMNS[name])


@dataclass
class Plan:
    """A solved (or unsolvable) instance."""

    status: PlanStatus
    objective: float | None
    bound: float | None
    gap: float | None
    timings: Timings
    size: ModelSize
    input_hash: str
    periods: list[str]
    scenarios: dict[str, float]
    risk: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    diagnosis: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list, repr=False)
    solver: str = "HiGHS"
    warnings: list[str] = field(default_factory=list)
    """Remarks on the input that are not errors, carried from `Network.warnings`, and the
    coefficient ranges HiGHS may not handle well (`Scaling.warnings`)."""
    scaling: Scaling | None = None
    """The money unit and the coefficient ranges HiGHS saw (None on a plan read back from
    a document that has none)."""

    @classmethod
    def without_solution(cls, status: PlanStatus, timings: Timings, size: ModelSize,
                         input_hash: str, network: Network, *, diagnosis: list[str],
                         log: list[str]) -> Plan:
        return cls(status=status, objective=None, bound=None, gap=None, timings=timings,
                   size=size, input_hash=input_hash, periods=list(network.settings.periods),
                   scenarios={s.scenario: s.probability for s in network.scenarios},
                   risk=network.settings.risk.model_dump(),
                   tables={name: _empty(name) for name in TABLE_COLUMNS},
                   diagnosis=diagnosis, log=log, warnings=list(network.warnings))

    @property
    def has_solution(self) -> bool:
        return self.status in (PlanStatus.OPTIMAL, PlanStatus.FEASIBLE) or (
            self.status is PlanStatus.CANCELLED and self.objective is not None)

    # --- KPIs -------------------------------------------------------------------------------

    def scenario_costs(self) -> pd.Series:
        """Present value of each scenario's total cost."""
        costs = self.tables["costs"]
        totals = costs.groupby("scenario").amount.sum() if not costs.empty else pd.Series(
            dtype=float)
        return totals.reindex(list(self.scenarios), fill_value=0.0)

    def expected_cost(self) -> float | None:
        if not self.has_solution:
            return None
        totals = self.scenario_costs()
        return float(sum(self.scenarios[s] * totals[s] for s in self.scenarios))

    def cvar(self, alpha: float | None = None) -> float | None:
        """Conditional value at risk of the scenario costs at level alpha (the mean of the
        worst 1 - alpha of probability)."""
        if not self.has_solution:
            return None
        level = float(self.risk.get("alpha", 0.9) if alpha is None else alpha)
        totals = self.scenario_costs()
        return conditional_value_at_risk(totals.to_numpy(float),
                                         np.array([self.scenarios[s] for s in totals.index]),
                                         level)

    def worst_case_cost(self) -> float | None:
        return float(self.scenario_costs().max()) if self.has_solution else None

    def tariff_by_country(self) -> pd.DataFrame:
        """Nominal tariff paid per scenario and origin country (components and products)."""
        sourcing, shipments = self.tables["sourcing"], self.tables["shipments"]
        parts = []
        if not sourcing.empty:
            parts.append(sourcing[["scenario", "origin_country", "tariff_cost"]])
        if not shipments.empty and "origin_country" in shipments:
            parts.append(shipments[["scenario", "origin_country", "tariff_cost"]])
        if not parts:
            return pd.DataFrame(columns=["scenario", "origin_country", "tariff_cost"])
        spend = pd.concat(parts).groupby(["scenario", "origin_country"]).tariff_cost.sum()
        return spend.reset_index()

    def service_level(self) -> float | None:
        """Expected share of demanded units that are served."""
        if not self.has_solution:
            return None
        shipped = self.tables["shipments"].groupby("scenario").quantity.sum()
        unmet = self.tables["unmet"].groupby("scenario").quantity.sum()
        level = 0.0
        for s, p in self.scenarios.items():
            served, lost = float(shipped.get(s, 0.0)), float(unmet.get(s, 0.0))
            level += p * (served / (served + lost) if served + lost > 0 else 1.0)
        return level

    def domestic_share(self) -> float | None:
        """Expected share of purchase value bought in the receiving site's country."""
        sourcing = self.tables["sourcing"]
        if not self.has_solution or sourcing.empty:
            return None
        sites = self.tables["sites"].set_index("site").country
        home = sourcing.origin_country == sourcing.site.map(sites)
        value = sourcing.assign(domestic=sourcing.purchase_cost.where(home, 0.0)).groupby(
            "scenario")[["domestic", "purchase_cost"]].sum()
        return float(sum(p * value.domestic.get(s, 0.0) / value.purchase_cost.get(s, 1.0)
                         for s, p in self.scenarios.items() if value.purchase_cost.get(s, 0.0)))

    def summary(self) -> dict[str, Any]:
        """summary.json: status, objective, bound, gap, risk figures, scenario probabilities
        and costs, the sites decision, timings, size, hash, diagnosis and input warnings."""
        return {
            "status": str(self.status),
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "expected_cost": self.expected_cost(),
            "cvar": self.cvar(),
            "worst_case_cost": self.worst_case_cost(),
            "risk": self.risk,
            "service_level": self.service_level(),
            "domestic_share": self.domestic_share(),
            "scenario_probabilities": dict(self.scenarios),
            "scenario_costs": {s: float(v) for s, v in self.scenario_costs().items()}
            if self.has_solution else {},
            "sites": site_decisions(self),
            "timings": asdict(self.timings),
            "size": asdict(self.size),
            "scaling": None if self.scaling is None else asdict(self.scaling),
            "solver": self.solver,
            "input_hash": self.input_hash,
            "diagnosis": self.diagnosis,
            "warnings": self.warnings,
        }

    def to_json(self) -> dict[str, Any]:
        """The summary and every table as lists of records."""
        return {"summary": _finite(self.summary()),
                **{name: json.loads(frame.to_json(orient="records"))
                   for name, frame in sorted_tables(self).items()}}

    def write(self, folder: str | Path) -> Path:
        """Write summary.json, one CSV per table and plan.xlsx (see `optimizer.plan_files`),
        replacing an earlier plan's files in the folder, whatever this plan's status."""
        return write_plan(self, folder)


def _finite(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def conditional_value_at_risk(costs: np.ndarray, probabilities: np.ndarray,
                              alpha: float) -> float:
    """min_eta eta + E[(cost - eta)+] / (1 - alpha), evaluated at the scenario costs."""
    candidates = [eta + float(np.sum(probabilities * np.maximum(costs - eta, 0.0))) / (1 - alpha)
                  for eta in costs]
    return float(min(candidates))


# --- from the solved model to tables ----------------------------------------------------------


def _label(frame: pd.DataFrame, periods: list[str], *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = [periods[int(t)] for t in frame[column]]
    return frame


def make_plan(built: BuiltModel, data: PreparedNetwork, *, status: PlanStatus,
              objective: float | None, bound: float | None, gap: float | None, timings: Timings,
              size: ModelSize, input_hash: str, log: list[str]) -> Plan:
    """Read the solved model's variable families into the plan's tables."""
    periods = data.periods
    costs = unit_costs(data)
    flows = {family: built.families[family].solution() for family in KEYS}
    for family, frame in flows.items():
        priced = costs.frames[family]
        if frame.empty or priced.empty:
            flows[family] = frame.assign(**{c: 0.0 for c in priced.columns
                                            if c not in KEYS[family]})
        else:
            flows[family] = frame.merge(priced, on=KEYS[family], how="left")

    buy = flows["buy"]
    buy = buy[buy.quantity > QUANTITY_TOLERANCE].merge(
        data.purchases[["offer", "site", "period", "arrival", "supplier", "component",
                        "origin_country", "unit_price", "transport_cost_per_unit"]],
        on=["offer", "site", "period"])
    tariff = data.purchase_tariffs.set_index(["offer", "site", "period", "scenario"])
    buy["tariff_per_unit"] = tariff.tariff_per_unit.reindex(
        pd.MultiIndex.from_frame(buy[KEYS["buy"]])).to_numpy()
    sourcing = buy.assign(
        purchase_cost=buy.quantity * buy.unit_price,
        tariff_cost=buy.quantity * buy.tariff_per_unit,
        transport_cost=buy.quantity * buy.transport_cost_per_unit,
        arrival_period=buy.arrival)
    sourcing = _label(sourcing, periods, "period", "arrival_period")[TABLE_COLUMNS["sourcing"]]

    make = flows["make"]
    make = make[make.quantity > QUANTITY_TOLERANCE].merge(
        data.production[["site", "product", "period", "cost_per_unit"]],
        on=["site", "product", "period"])
    production = _label(make.assign(cost=make.quantity * make.cost_per_unit), periods,
                        "period")[TABLE_COLUMNS["production"]]

    ship = flows["ship"]
    ship = ship[ship.quantity > QUANTITY_TOLERANCE].merge(
        data.shipments, on=["site", "customer", "product", "period"]).merge(
        data.shipment_tariffs[["site", "customer", "product", "period", "scenario",
                               "tariff_per_unit"]],
        on=["site", "customer", "product", "period", "scenario"])
    ship = ship.assign(transport_cost=ship.quantity * ship.transport_cost_per_unit,
                       tariff_cost=ship.quantity * ship.tariff_per_unit,
                       arrival_period=ship.arrival,
                       origin_country=ship.site.map(data.sites.country))
    shipments = _label(ship, periods, "period", "arrival_period")[
        [*TABLE_COLUMNS["shipments"], "origin_country"]]

    stock_c = flows["component_stock"].rename(columns={"component": "item"}).assign(
        kind="component")
    stock_p = flows["product_stock"].rename(columns={"product": "item"}).assign(kind="product")
    inventory = pd.concat([stock_c, stock_p])
    inventory = _label(inventory[inventory.quantity > QUANTITY_TOLERANCE].copy(), periods,
                       "period")[TABLE_COLUMNS["inventory"]]

    unmet = flows["unmet"]
    unmet = _label(unmet[unmet.quantity > QUANTITY_TOLERANCE].copy(), periods,
                   "period")[TABLE_COLUMNS["unmet"]]

    sites = _site_table(built, data)
    qualifications = _qualification_table(built, data)
    utilisation = _utilisation_table(built, data, flows["make"])

    # --- present value per scenario and category ------------------------------------------
    # of the quantities the tables show: an interior-point plan (a start solved without
    # crossover) leaves many flows and stocks at 1e-9 to 1e-7, which no table lists
    amounts: dict[tuple[str, str], float] = dict.fromkeys(
        ((s, c) for s in data.scenarios for c in CATEGORIES), 0.0)
    for family, frame in flows.items():
        categories = [c for c in costs.frames[family].columns if c not in KEYS[family]]
        shown = frame.quantity.where(frame.quantity > QUANTITY_TOLERANCE, 0.0)
        for category in categories:
            per_scenario = (shown * frame[category]).groupby(frame.scenario).sum()
            for s, amount in per_scenario.items():
                amounts[str(s), category] += float(amount)
    operating = built.families["tier_operating"].solution().quantity.to_numpy()
    first_stage = {"fixed": float(np.dot(np.fromiter(costs.fixed.values(), float,
                                                     len(costs.fixed)), operating))}
    for family, category in ONE_TIME.items():
        decided = built.families[family].solution().quantity.round().to_numpy()
        first_stage[category] = float(np.dot(costs.one_time[family], decided))
    for s in data.scenarios:
        for category, amount in first_stage.items():
            amounts[s, category] = amount
    cost_table = pd.DataFrame([(s, c, a) for (s, c), a in amounts.items()],
                              columns=TABLE_COLUMNS["costs"])

    return Plan(
        status=status, objective=objective, bound=bound, gap=gap, timings=timings, size=size,
        input_hash=input_hash, periods=periods, scenarios=dict(data.probability),
        risk=data.network.settings.risk.model_dump(),
        tables={"sites": sites, "sourcing": sourcing.reset_index(drop=True),
                "production": production.reset_index(drop=True),
                "shipments": shipments.reset_index(drop=True),
                "inventory": inventory.reset_index(drop=True),
                "unmet": unmet.reset_index(drop=True), "costs": cost_table,
                "qualifications": qualifications, "utilisation": utilisation},
        log=log, warnings=list(data.network.warnings))


def _chosen(built: BuiltModel, family: str) -> pd.DataFrame:
    """The members of a binary family that the plan sets to 1, by their keys."""
    frame = built.families[family].solution()
    return frame[frame.quantity > 0.5]


def _site_table(built: BuiltModel, data: PreparedNetwork) -> pd.DataFrame:
    """One row per site: the tier it runs, when it opens or closes, and its status."""
    periods = data.periods
    opened = {k: (tier, int(t)) for k, tier, t in _chosen(built, "open")[
        ["site", "tier", "period"]].itertuples(index=False, name=None)}
    closed = {k: int(t) for k, t in _chosen(built, "close")[["site", "period"]].itertuples(
        index=False, name=None)}
    tiers = data.tiers.groupby("site").tier.first()
    rows: list[tuple[str, str | None, str | None, str | None, str, str]] = []
    for site in data.network.sites:
        k = site.site
        if site.status == "existing":
            tier = str(tiers.get(k, ""))
            if k in closed:
                rows.append((k, tier, None, periods[closed[k]], "closed", site.country))
            else:
                rows.append((k, tier, periods[0], None, "existing", site.country))
        elif k in opened and k in closed:
            tier, t = opened[k]
            rows.append((k, tier, periods[t], periods[closed[k]], "closed", site.country))
        elif k in opened:
            tier, t = opened[k]
            rows.append((k, tier, periods[t], None, "open", site.country))
        else:
            rows.append((k, None, None, None, "not opened", site.country))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["sites"])


def _qualification_table(built: BuiltModel, data: PreparedNetwork) -> pd.DataFrame:
    offers = data.offers
    rows = [(o, offers.supplier[o], offers.component[o], float(offers.qualification_cost[o]))
            for o in _chosen(built, "qualify").offer]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["qualifications"])


def _utilisation_table(built: BuiltModel, data: PreparedNetwork,
                       make: pd.DataFrame) -> pd.DataFrame:
    hours = data.products.set_index("product").assembly_hours
    used = make.assign(hours_used=make.quantity * make["product"].map(hours)).groupby(
        ["scenario", "period", "site"], as_index=False).hours_used.sum()
    operating = data.operating[["site", "tier", "period", "capacity_hours"]]
    running = built.families["tier_operating"].solution().quantity.to_numpy()
    capacity = operating.assign(capacity_hours=operating.capacity_hours * running).groupby(
        ["site", "period"]).capacity_hours.sum().reset_index()
    table = used.merge(capacity, on=["site", "period"], how="left")
    table = table[(table.hours_used > QUANTITY_TOLERANCE) | (table.capacity_hours > 0)]
    return _label(table.copy(), data.periods, "period")[TABLE_COLUMNS["utilisation"]].reset_index(
        drop=True)
