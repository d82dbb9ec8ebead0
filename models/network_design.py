"""The network design MILP: a two-stage stochastic model over tariff scenarios.

`build` is a flat checklist of `define_*` functions, one per business rule, each stating its
inequality in the docstring and each returning early when its set is empty. All sums read
their terms from the group-bys of `optimizer.prepare`; no rule scans a table. Each function
adds to one `models.built.BuiltModel`: the Pyomo model, and beside it the variable families
(with their keys and the plan table each feeds), the row blocks and the elastic slacks.
Policies are found by their name in `POLICIES`: adding one takes a `define_*` function
listed there, its name and kind of value in `optimizer.schema`, and its checker rule.

Notation: k site, l tier, t period, s scenario, p product, c component, o offer, j customer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression

from reshore.models.built import BuiltModel, ElasticSlack
from reshore.models.linear_rows import Rows
from reshore.optimizer.costs import ONE_TIME, one_time_costs
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.schema import ANY

Model = Any
"""A `pyomo.environ.ConcreteModel` (Pyomo ships no type information)."""


def build(data: PreparedNetwork, *, elastic: bool = False) -> BuiltModel:
    """The model of a prepared network.

    With `elastic=True` every demand may go unserved and every policy may be violated, each at
    a price (its `BuiltModel.slacks`), and the objective is the total violation: the model
    that says what cannot be met.
    """
    with PauseGC():  # hundreds of thousands of new objects: no collection passes meanwhile
        b = BuiltModel(model=pyo.ConcreteModel(name="network_design"), elastic=elastic)
        define_site_decisions(b, data)
        define_flow_decisions(b, data)
        define_one_start_per_site(b, data)
        define_one_closing_per_site(b, data)
        define_tier_operating(b, data)
        define_site_operating(b, data)
        define_component_balance(b, data)
        define_product_balance(b, data)
        define_demand_service(b, data)
        define_site_capacity(b, data)
        define_capacity_covers_demand(b, data)
        define_shipments_need_operating_site(b, data)
        define_single_sourcing(b, data)
        define_supplier_capacity(b, data)
        define_non_anticipativity(b, data)
        define_policies(b, data)
        define_scenario_cost(b, data)
        if elastic:
            define_violation_objective(b)
        else:
            define_risk_objective(b, data)
    return b


# --- decisions ----------------------------------------------------------------------------


def _rows(frame: Any, columns: list[str]) -> list[tuple[Any, ...]]:
    return list(frame[columns].itertuples(index=False, name=None))


def _per_scenario(frame: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Each row of `frame` once per scenario (scenarios innermost, as the variables are
    declared)."""
    return frame.reset_index(drop=True).merge(pd.DataFrame({"scenario": scenarios}),
                                              how="cross")


def define_site_decisions(b: BuiltModel, data: PreparedNetwork) -> None:
    """First stage: open[k,l,t] (start at tier l in t), close[k,t] (a site stops from t:
    an existing one, or a candidate a replan may close), tier_operating[k,l,t] and
    site_operating[k,t] in [0, 1], qualify[o]."""
    operating = data.operating[["site", "tier", "period"]]
    b.declare("open", "OPENINGS", data.openings[["site", "tier", "period"]], table="sites",
              domain=pyo.Binary)
    b.declare("close", "CLOSINGS", data.closings[["site", "period"]], table="sites",
              domain=pyo.Binary)
    b.declare("tier_operating", "OPERATING", operating, table="utilisation", bounds=(0, 1))
    site_periods = operating[["site", "period"]].drop_duplicates().sort_values(
        ["site", "period"])
    b.declare("site_operating", "SITE_PERIODS", site_periods, table=None, bounds=(0, 1))
    qualified = data.offers.index[data.offers.needs_qualification]
    b.declare("qualify", "QUALIFIED_OFFERS", pd.DataFrame({"offer": qualified.tolist()}),
              table="qualifications", domain=pyo.Binary)


def define_flow_decisions(b: BuiltModel, data: PreparedNetwork) -> None:
    """Second stage, per scenario: buy, make, ship, stocks and unmet demand, all >= 0.

    Unmet demand is bounded by 0 when no penalty prices it (demand must be met), except in the
    elastic model, where it is the slack of the demand."""
    m = b.model
    S = data.scenarios
    m.SCENARIOS = pyo.Set(initialize=S)
    flows = (("buy", "PURCHASES", data.purchases, ["offer", "site", "period"], "sourcing"),
             ("make", "PRODUCTION", data.production, ["site", "product", "period"],
              "production"),
             ("ship", "SHIPMENTS", data.shipments, ["site", "customer", "product", "period"],
              "shipments"),
             ("component_stock", "COMPONENT_STOCK", data.component_stock,
              ["site", "component", "period"], "inventory"),
             ("product_stock", "PRODUCT_STOCK", data.product_stock,
              ["site", "product", "period"], "inventory"))
    for name, index, frame, columns, table in flows:
        b.declare(name, index, _per_scenario(frame[columns], S), table=table,
                  domain=pyo.NonNegativeReals)
    may_go_unmet = data.unmet_penalty is not None or b.elastic
    demand = data.demand
    unmet = b.declare("unmet", "DEMAND", demand[["customer", "product", "period", "scenario"]],
                      table="unmet", domain=pyo.NonNegativeReals)
    for variable, quantity in zip(unmet.members(), demand.quantity.tolist(), strict=True):
        variable.setub(quantity if may_go_unmet else 0.0)
    if b.elastic:
        b.slacks.append(ElasticSlack(requirement="demand", family=unmet))


# --- site life cycle ------------------------------------------------------------------------


def define_one_start_per_site(b: BuiltModel, data: PreparedNetwork) -> None:
    """A candidate site starts at most once, at one tier: sum_{l,t} open[k,l,t] <= 1."""
    m = b.model
    starts: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for k, tier, t in m.OPENINGS:
        starts[k].append((k, tier, t))
    if not starts:
        return
    m.one_start_per_site = pyo.Constraint(
        list(starts), rule=lambda m, k: sum(m.open[i] for i in starts[k]) <= 1)


def define_one_closing_per_site(b: BuiltModel, data: PreparedNetwork) -> None:
    """A site closes at most once: sum_t close[k,t] <= 1."""
    m = b.model
    closings: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for k, t in m.CLOSINGS:
        closings[k].append((k, t))
    if not closings:
        return
    m.one_closing_per_site = pyo.Constraint(
        list(closings), rule=lambda m, k: sum(m.close[i] for i in closings[k]) <= 1)


def define_tier_operating(b: BuiltModel, data: PreparedNetwork) -> None:
    """A tier operates from its start on, until its site closes:
    tier_operating[k,l,t] = tier_operating[k,l,t-1] + open[k,l,t] - close[k,t],
    with tier_operating[k,l,-1] = 1 for an existing site and 0 for a candidate; close[k,t]
    enters the row of the tier that stops (`PreparedNetwork.closings`): an existing site's
    one tier, or the tier a closable candidate opens at."""
    m = b.model
    existing = set(data.sites.index[data.sites.status == "existing"])
    stopping = dict(zip(data.closings.site, data.closings.tier, strict=True))

    def rule(m: Model, k: str, tier: str, t: int) -> Any:
        previous = m.tier_operating[k, tier, t - 1] if (k, tier, t - 1) in m.OPERATING else (
            1 if k in existing else 0)
        change = 0 if k in existing else m.open[k, tier, t]
        if stopping.get(k) == tier and (k, t) in m.CLOSINGS:
            change = change - m.close[k, t]
        return m.tier_operating[k, tier, t] == previous + change

    m.tier_operating_from_start = pyo.Constraint(m.OPERATING, rule=rule)


def define_site_operating(b: BuiltModel, data: PreparedNetwork) -> None:
    """A site operates when one of its tiers does: site_operating[k,t] = sum_l
    tier_operating[k,l,t]."""
    m = b.model
    tiers = data.lookups.site_tiers
    m.site_operating_from_tiers = pyo.Constraint(
        m.SITE_PERIODS, rule=lambda m, k, t: m.site_operating[k, t] == sum(
            m.tier_operating[k, tier, t] for tier in tiers[k]))


# --- balances -------------------------------------------------------------------------------


def define_component_balance(b: BuiltModel, data: PreparedNetwork) -> None:
    """stock_c[k,c,t-1] + purchases arriving in t = sum_p a(p,c) make[k,p,t] + stock_c[k,c,t],
    per scenario (a row block: one row per component_stock variable)."""
    keys = ["site", "component", "period", "scenario"]
    stock = b.families["component_stock"].keys
    if stock.empty:
        return
    rows = Rows(len(stock))
    rows.add("component_stock", stock.position, stock.position, -1.0)
    before = stock.assign(period=stock.period + 1).merge(
        stock, on=keys, suffixes=("_before", ""))
    rows.add("component_stock", before.position, before.position_before, 1.0)
    S = len(data.scenarios)
    arriving = b.families["buy"].keys.assign(
        component=np.repeat(data.purchases.component.to_numpy(), S),
        period=np.repeat(data.purchases.arrival.to_numpy(dtype=np.int64), S))
    inflow = arriving.merge(stock, on=keys, suffixes=("_buy", ""))
    rows.add("buy", inflow.position, inflow.position_buy, 1.0)
    used = stock.merge(data.bom[["product", "component", "quantity"]], on="component")
    rows.add("make", used.position,
             b.positions("make", used[["site", "product", "period", "scenario"]]),
             -used.quantity.to_numpy(dtype=float))
    b.add_block("component_balance", rows, 0.0, 0.0)


def define_product_balance(b: BuiltModel, data: PreparedNetwork) -> None:
    """stock_p[k,p,t-1] + make[k,p,t] = sum_j ship[k,j,p,t] + stock_p[k,p,t], per scenario
    (a row block: one row per product_stock variable)."""
    keys = ["site", "product", "period", "scenario"]
    stock = b.families["product_stock"].keys
    rows = Rows(len(stock))
    rows.add("product_stock", stock.position, stock.position, -1.0)
    before = stock.assign(period=stock.period + 1).merge(
        stock, on=keys, suffixes=("_before", ""))
    rows.add("product_stock", before.position, before.position_before, 1.0)
    rows.add("make", stock.position, b.positions("make", stock[keys]), 1.0)
    shipped = b.families["ship"].keys.merge(stock, on=keys, suffixes=("_ship", ""))
    rows.add("ship", shipped.position, shipped.position_ship, -1.0)
    b.add_block("product_balance", rows, 0.0, 0.0)


def define_demand_service(b: BuiltModel, data: PreparedNetwork) -> None:
    """sum_k ship arriving in t + unmet[j,p,t] = demand[j,p,t], per scenario (a row block:
    one row per unmet variable)."""
    unmet = b.families["unmet"].keys
    rows = Rows(len(unmet))
    rows.add("unmet", unmet.position, unmet.position, 1.0)
    served = _demand_served(data, data.shipments).ravel()  # ship variable by ship variable
    arrives = np.flatnonzero(served >= 0)
    rows.add("ship", served[arrives], arrives, 1.0)
    quantity = data.demand.quantity.to_numpy(dtype=float)
    b.add_block("demand_service", rows, quantity, quantity)


def _demand_served(data: PreparedNetwork, shipments: pd.DataFrame) -> np.ndarray:
    """For each row of `shipments` (customer, product, arrival) and each scenario (columns in
    `data.scenarios` order), the demand row (and unmet variable) it arrives to serve; -1 where
    nothing is demanded. Row by row it is the ship variables' order, scenarios innermost."""
    demand = data.demand
    row = (demand.assign(row=np.arange(len(demand)))
           .set_index(["customer", "product", "period", "scenario"]).row
           .unstack("scenario").reindex(columns=data.scenarios))
    served = shipments[["customer", "product", "arrival"]].merge(
        row, left_on=["customer", "product", "arrival"], right_index=True, how="left",
        sort=False)[data.scenarios].to_numpy(dtype=float)
    rows: np.ndarray = np.nan_to_num(served, nan=-1.0).astype(np.int64)
    return rows.reshape(len(shipments), len(data.scenarios))


def _scenarios_innermost(index: np.ndarray, scenarios: int) -> np.ndarray:
    """For each item of `index` and each scenario, the position index·scenarios + scenario:
    items in order, each item's scenarios one after the other (the order of the ship
    variables over the shipments)."""
    positions: np.ndarray = (np.repeat(index * scenarios, scenarios)
                             + np.tile(np.arange(scenarios), len(index)))
    return positions


def _demanded(data: PreparedNetwork, shipments: pd.DataFrame) -> np.ndarray:
    """The demand each ship variable over `shipments` arrives to serve (0 where none), in the
    ship variables' order (scenarios innermost)."""
    served = _demand_served(data, shipments).ravel()
    quantity = data.demand.quantity.to_numpy(dtype=float)
    demanded: np.ndarray = np.where(served >= 0, quantity[served], 0.0)
    return demanded


# --- capacities and linking -----------------------------------------------------------------


def define_site_capacity(b: BuiltModel, data: PreparedNetwork) -> None:
    """sum_p assembly_hours[p] make[k,p,t] <= sum_l capacity_hours[k,l] tier_operating[k,l,t]."""
    m = b.model
    hours = data.products.set_index("product").assembly_hours.to_dict()
    capacity = data.tiers.set_index(["site", "tier"]).capacity_hours.to_dict()
    tiers, made = data.lookups.site_tiers, data.lookups.site_products

    def rule(m: Model, k: str, t: int, s: str) -> Any:
        load = sum(hours[p] * m.make[k, p, t, s] for p in made.get((k, t), ()))
        return load <= sum(capacity[k, tier] * m.tier_operating[k, tier, t] for tier in tiers[k])

    b.add_limit("site_capacity", ["site", "period", "scenario"],
                pyo.Constraint(m.SITE_PERIODS, m.SCENARIOS, rule=rule))


def define_capacity_covers_demand(b: BuiltModel, data: PreparedNetwork) -> None:
    """Valid inequality: what has been delivered by period t was assembled by t, so
    sum_{t'<=t} sum_{k,l} capacity_hours[k,l] tier_operating[k,l,t'] >=
    sum_{t'<=t} sum_{j,p} assembly_hours[p] (demand[j,p,t',s] - unmet[j,p,t',s]).
    Implied by the LP, it hands the solver the knapsack row its cover cuts need (the
    "open capacity covers total demand" cut of facility location). The elastic model goes
    without it: the diagnosis reads which capacity rows bind, and this row, implied by them,
    would share their duals. (A row block: one row per period and scenario with demand by
    then, stated as -capacity - assembly hours of unmet <= -assembly hours of demand.)"""
    if b.elastic or data.demand.empty or data.operating.empty:
        return
    hours = data.products.set_index("product").assembly_hours
    unmet = b.families["unmet"].keys
    unmet_hours = unmet["product"].map(hours).to_numpy(dtype=float)
    needed = (data.demand.quantity.to_numpy(dtype=float) * unmet_hours)
    operating = b.families["tier_operating"].keys.merge(
        data.tiers[["site", "tier", "capacity_hours"]], on=["site", "tier"], how="left",
        sort=False)
    capacity = operating.capacity_hours.to_numpy(dtype=float)
    T = len(data.periods)
    keys = []
    for t in range(T):
        for s in data.scenarios:
            mine = ((unmet.period <= t) & (unmet.scenario == s)).to_numpy()
            if needed[mine].sum() > 0:
                keys.append((t, mine, float(needed[mine].sum())))
    rows = Rows(len(keys))
    for row, (t, mine, _) in enumerate(keys):
        supplied = np.flatnonzero((operating.period <= t).to_numpy())
        rows.add("tier_operating", np.full(supplied.size, row), supplied, -capacity[supplied])
        short = np.flatnonzero(mine)
        rows.add("unmet", np.full(short.size, row), short, -unmet_hours[short])
    b.add_block("capacity_covers_demand", rows, -np.inf,
                -np.array([total for *_, total in keys]))


def define_shipments_need_operating_site(b: BuiltModel, data: PreparedNetwork) -> None:
    """Strong linking, per customer: sum_p ship[k,j,p,t] <= sum_p demand[j,p,arrival] *
    site_operating[k,t]. With one product it is the x_ij <= y_i of facility location (a row
    block: one row per site, customer, departure period and scenario).

    Most of these rows are slack at the optimum, so the block may be held back from the LP:
    each row is ranked by its lane's cost among the sites serving the same customer, period
    and scenario, and the solve keeps the cheapest ones (`SolveOptions.cheapest_sites_kept`),
    where the relaxation sends flow first."""
    shipments, S = data.shipments, data.scenarios
    if shipments.empty:
        return
    ship = b.families["ship"].keys  # shipment by shipment, scenarios innermost
    # Rows in the order their (site, customer, period, scenario) first appears among the ship
    # variables: each (site, customer, period) at its first shipment, its scenarios in order.
    lanes = shipments.groupby(["site", "customer", "period"], sort=False)
    lane = lanes.ngroup().to_numpy()
    first = lanes.head(1)
    row = _scenarios_innermost(lane, len(S))
    quantity = _demanded(data, shipments)
    lane_cost = (np.repeat(shipments.transport_cost_per_unit.to_numpy(dtype=float), len(S))
                 + data.shipment_tariffs.tariff_per_unit.to_numpy(dtype=float))
    need = pd.Series(quantity).groupby(row).sum().to_numpy()
    rows = Rows(len(first) * len(S))
    rows.add("ship", row, ship.position, 1.0)
    site_operating = np.repeat(b.positions("site_operating", first[["site", "period"]]), len(S))
    rows.add("site_operating", np.arange(rows.count), site_operating, -need)
    heads = pd.DataFrame({
        "customer": np.repeat(pd.factorize(first.customer)[0], len(S)),
        "period": np.repeat(first.period.to_numpy(), len(S)),
        "scenario": np.tile(np.arange(len(S)), len(first)),
        "lane_cost": pd.Series(lane_cost).groupby(row).mean().to_numpy()})
    rank = heads.groupby(["customer", "period", "scenario"]).lane_cost.rank(method="first")
    b.add_block("shipments_need_operating_site", rows, -np.inf, 0.0,
                priority=rank.to_numpy(dtype=np.int64))


def define_single_sourcing(b: BuiltModel, data: PreparedNetwork) -> None:
    """A single-sourced customer gets each product from one site over the whole horizon:
    sum_k assign[k,j,p] = 1 and ship[k,j,p,t] <= demand[j,p,arrival] * assign[k,j,p].

    When all demand must be met the row is an equality, ship = demand * assign: the
    assigned site ships all of it. Presolve then substitutes ship out, and the strong
    linking row becomes assign[k,j,p] <= site_operating[k,t], the x_ij <= y_i of single-source
    facility location (without it the binaries are not tied to the sites in the LP).
    (Two row blocks: one row per customer and product, one per single-sourced shipment.)"""
    if data.single_source.empty:
        return
    columns = ["site", "customer", "product"]
    assign = b.declare("assign", "ASSIGNMENTS", data.single_source[columns], table=None,
                       domain=pyo.Binary).keys
    choice = assign.groupby(["customer", "product"], sort=False).ngroup().to_numpy()
    one = Rows(int(choice.max()) + 1)
    one.add("assign", choice, assign.position, 1.0)
    b.add_block("one_source_per_product", one, 1.0, 1.0)
    S = len(data.scenarios)
    single = data.shipments.reset_index(drop=True).assign(shipment=np.arange(len(
        data.shipments))).merge(assign, on=columns, sort=False)  # in the shipments' order
    quantity = _demanded(data, single)
    every = np.arange(len(single) * S)
    rows = Rows(every.size)
    ship = _scenarios_innermost(single.shipment.to_numpy(), S)
    rows.add("ship", every, ship, 1.0)
    rows.add("assign", every, np.repeat(single.position.to_numpy(), S), -quantity)
    must_meet = data.unmet_penalty is None and not b.elastic
    b.add_block("shipments_from_assigned_site", rows, 0.0 if must_meet else -np.inf, 0.0)


def _component_need(data: PreparedNetwork) -> dict[str, float]:
    """Units of each component that the whole horizon's demand could use (worst scenario)."""
    by_scenario = data.demand.groupby(["product", "scenario"]).quantity.sum()
    worst = {str(p): float(q) for p, q in by_scenario.groupby(level="product").max().items()}
    need: dict[str, float] = defaultdict(float)
    for product, component, quantity in _rows(data.bom, ["product", "component", "quantity"]):
        need[component] += float(quantity) * worst.get(product, 0.0)
    return need


def define_supplier_capacity(b: BuiltModel, data: PreparedNetwork) -> None:
    """sum_k buy[o,k,t] <= capacity[o,t] * qualify[o], where capacity[o,t] is the offer's
    capacity in order period t (`PreparedNetwork.offer_capacity`: its capacity_per_period or
    its offer_capacities row) and qualify = 1 for offers that need no qualification; an
    unlimited offer that needs one is bounded by total need.
    (A row block: one row per offer, order period and scenario.)"""
    offers = data.offers
    capacity = data.offer_capacity
    need = _component_need(data)
    qualified = offers.needs_qualification.astype(bool)
    buy = b.families["buy"].keys
    pairs = pd.MultiIndex.from_arrays([buy.offer, buy.period])
    limited = pairs.isin(list(capacity)) if capacity else np.zeros(len(buy), dtype=bool)
    capped = buy[buy.offer.map(qualified).to_numpy(dtype=bool) | limited]
    if capped.empty:
        return
    group = capped.groupby(["offer", "period", "scenario"], sort=False)
    row = group.ngroup().to_numpy()
    heads = group.head(1)[["offer", "period", "scenario"]].reset_index(drop=True)
    rows = Rows(len(heads))
    rows.add("buy", row, capped.position, 1.0)
    needs = heads.offer.map(qualified).to_numpy(dtype=bool)
    cap = np.array([capacity.get((o, t), need[offers.component[o]])
                    for o, t in zip(heads.offer, heads.period, strict=True)], dtype=float)
    if needs.any():
        rows.add("qualify", np.flatnonzero(needs),
                 b.positions("qualify", heads.loc[needs, ["offer"]]), -cap[needs])
    b.add_limit_block("supplier_capacity", heads, rows, -np.inf, np.where(needs, 0.0, cap))


def define_non_anticipativity(b: BuiltModel, data: PreparedNetwork) -> None:
    """What is bought, made and shipped in the first commit_periods periods is the same in every
    scenario: x[..., t, s] = x[..., t, s0] for t < commit_periods (a row block per family:
    one row per variable of another scenario than the first in a committed period)."""
    S, commit = data.scenarios, data.commit_periods
    if len(S) < 2 or commit == 0:
        return
    for family in ("buy", "make", "ship"):
        keys = b.families[family].keys
        later = keys[((keys.scenario != S[0]) & (keys.period < commit)).to_numpy()]
        position = later.position.to_numpy()
        every = np.arange(len(later))
        rows = Rows(len(later))
        rows.add(family, every, position, 1.0)
        # declared scenario innermost (define_flow_decisions): the first scenario's member
        # of the same flow starts each run of len(S)
        rows.add(family, every, position - position % len(S), -1.0)
        b.add_block(f"same_{family}_in_committed_periods", rows, 0.0, 0.0)


# --- policies -------------------------------------------------------------------------------


def _policy_slack(b: BuiltModel, name: str, keys: list[tuple[Any, ...]],
                  columns: list[str]) -> Any:
    """In the elastic model a policy row may be violated by a priced slack (keyed by
    `columns`, the first being the policies row); else 0."""
    if not b.elastic:
        return defaultdict(int)
    return b.declare_slack(name, pd.DataFrame(keys, columns=columns)).variable


def define_policies(b: BuiltModel, data: PreparedNetwork) -> None:
    """Every row of the policies table, by its kind (`POLICIES`)."""
    for define in POLICIES.values():
        define(b, data)


def _policy_rows(data: PreparedNetwork, name: str) -> list[tuple[int, str, str, float]]:
    rows = data.policies[data.policies.policy == name]
    return [(int(i), str(component), str(country), float(value)) for i, component, country, value
            in rows[["component", "country", "value"]].itertuples(index=True, name=None)]


def _purchases_of(m: Model, data: PreparedNetwork) -> dict[tuple[str, str],
                                                          list[tuple[Any, ...]]]:
    """(component, scenario) -> purchase keys (o, k, t, s), grouped once for the policies."""
    component = data.offers.component.to_dict()
    grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for key in m.PURCHASES:
        grouped[component[key[0]], key[3]].append(key)
    return grouped


def define_country_share(b: BuiltModel, data: PreparedNetwork) -> None:
    """Per scenario, component c and country n, over the horizon:
    sum of purchases of c from n <= value * sum of purchases of c ('*' = each one)."""
    m = b.model
    rows = _policy_rows(data, "max_country_share")
    if not rows:
        return
    bought = _purchases_of(m, data)
    origin = data.offers.origin_country.to_dict()
    offered = sorted({c for c, _ in bought})
    keys = []
    for i, comp, country, value in rows:
        for c in offered if comp == ANY else [comp]:
            countries = sorted({origin[key[0]] for s in data.scenarios
                                for key in bought.get((c, s), ())}) if country == ANY \
                else [country]
            keys += [(i, c, n, s, value) for n in countries for s in data.scenarios]
    _share_limit(b, data, "max_country_share", "country", keys, origin)


def define_min_suppliers(b: BuiltModel, data: PreparedNetwork) -> None:
    """At least `value` distinct suppliers qualified for component c:
    sum_sigma supplier_qualified[sigma,c] >= value, supplier_qualified <= sum qualify[o]."""
    m = b.model
    rows = _policy_rows(data, "min_suppliers")
    if not rows:
        return
    offers = data.offers
    policy_components = {c for _, comp, _, _ in rows
                         for c in (set(offers.component) if comp == ANY else {comp})}
    offers_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for o, supplier, component in offers[["supplier", "component"]].itertuples(name=None):
        if component in policy_components:
            offers_of[supplier, component].append(o)
    b.declare("supplier_qualified", "SUPPLIER_COMPONENTS",
              pd.DataFrame(sorted(offers_of), columns=["supplier", "component"]), table=None,
              domain=pyo.Binary)
    m.supplier_qualified_by_offer = pyo.Constraint(
        m.SUPPLIER_COMPONENTS, rule=lambda m, sigma, c: m.supplier_qualified[sigma, c] <= sum(
            m.qualify[o] for o in offers_of[sigma, c]))
    keys = []
    for i, comp, _, value in rows:
        components = sorted(set(offers.component)) if comp == ANY else [comp]
        keys += [(i, c, value) for c in components]
    slack = _policy_slack(b, "min_suppliers", [k[:2] for k in keys],
                          ["policy_row", "component"])
    b.add_limit("min_suppliers", ["policy_row", "component", "value"], pyo.Constraint(
        keys, rule=lambda m, i, c, value: sum(
            m.supplier_qualified[sigma, c0] for sigma, c0 in offers_of if c0 == c
        ) + slack[i, c] >= value))


def define_max_open_sites(b: BuiltModel, data: PreparedNetwork) -> None:
    """At most `value` sites operate in any period: sum_k site_operating[k,t] <= value."""
    m = b.model
    rows = _policy_rows(data, "max_open_sites")
    if not rows:
        return
    sites_in: dict[int, list[str]] = defaultdict(list)
    for k, t in m.SITE_PERIODS:
        sites_in[t].append(k)
    keys = [(i, t, value) for i, _, _, value in rows for t in sorted(sites_in)]
    slack = _policy_slack(b, "max_open_sites", [k[:2] for k in keys],
                          ["policy_row", "period"])
    b.add_limit("max_open_sites", ["policy_row", "period", "value"], pyo.Constraint(
        keys, rule=lambda m, i, t, value: sum(
            m.site_operating[k, t] for k in sites_in[t]) <= value + slack[i, t]))


def capex(b: BuiltModel, data: PreparedNetwork) -> Any:
    """One-time spend, in money units: opening + closing + supplier qualification costs,
    priced by `optimizer.costs.one_time_costs`."""
    coefficients, variables = [], []
    for family, cost in one_time_costs(data).items():
        coefficients += (cost / data.money_unit).tolist()
        variables += b.families[family].members()
    return LinearExpression(linear_coefs=coefficients, linear_vars=variables)


def define_capex_budget(b: BuiltModel, data: PreparedNetwork) -> None:
    """opening + closing + qualification costs <= value."""
    rows = _policy_rows(data, "capex_budget")
    if not rows:
        return
    unit = data.money_unit
    keys = [(i, value / unit) for i, _, _, value in rows]
    slack = _policy_slack(b, "capex_budget", [k[:1] for k in keys], ["policy_row"])
    spend = capex(b, data)
    b.add_limit("capex_budget", ["policy_row", "budget"], pyo.Constraint(
        keys, rule=lambda m, i, budget: budget + slack[i] * max(budget, 1.0) >= spend))


def define_min_domestic_share(b: BuiltModel, data: PreparedNetwork) -> None:
    """Per scenario: purchase value of domestic origin >= value * all purchase value, over the
    horizon, for one component or all ('*'). Domestic = the policy's country, or for '*' the
    receiving site's country."""
    m = b.model
    rows = _policy_rows(data, "min_domestic_share")
    if not rows:
        return
    price = (data.purchases.set_index(["offer", "site", "period"]).unit_price
             / data.money_unit).to_dict()
    origin = data.offers.origin_country.to_dict()
    site_country = data.sites.country.to_dict()
    keys = [(i, s) for i, _, _, _ in rows for s in data.scenarios]
    policy = {i: (comp, country, value) for i, comp, country, value in rows}
    slack = _policy_slack(b, "min_domestic_share", keys, ["policy_row", "scenario"])

    bought = _purchases_of(m, data)

    def rule(m: Model, i: int, s: str) -> Any:
        comp, country, value = policy[i]
        mine = [key for (c, s0), group in bought.items() if s0 == s and comp in (ANY, c)
                for key in group]
        home = {key: (site_country[key[1]] if country == ANY else country) for key in mine}
        domestic = sum(price[key[:3]] * m.buy[key] for key in mine if origin[key[0]] == home[key])
        total = sum(price[key[:3]] * m.buy[key] for key in mine)
        return domestic + slack[i, s] * max(1.0, value) >= value * total

    b.add_limit("min_domestic_share", ["policy_row", "scenario"],
                pyo.Constraint(keys, rule=rule))


def define_supplier_share(b: BuiltModel, data: PreparedNetwork) -> None:
    """Per scenario, component c and supplier sigma (of the policy's country, or any for
    '*'), over the horizon: sum of purchases of c from sigma <= value * sum of purchases of c
    ('*' component = each one)."""
    rows = _policy_rows(data, "max_supplier_share")
    if not rows:
        return
    bought = _purchases_of(b.model, data)
    supplier = data.offers.supplier.to_dict()
    based_in = {s.supplier: s.country for s in data.network.suppliers}
    keys = []
    for i, comp, country, value in rows:
        for c in sorted({c for c, _ in bought}) if comp == ANY else [comp]:
            sellers = {supplier[key[0]] for s in data.scenarios for key in bought.get((c, s), ())}
            keys += [(i, c, sigma, s, value) for sigma in sorted(sellers)
                     if country in (ANY, based_in[sigma]) for s in data.scenarios]
    _share_limit(b, data, "max_supplier_share", "supplier", keys, supplier)


def _share_limit(b: BuiltModel, data: PreparedNetwork, policy: str, source: str,
                 keys: list[Any], source_of: dict[Any, str]) -> None:
    """The rows of a share policy, one per key (policy row i, component c, source g,
    scenario s, value): purchases of c from g - value * purchases of c (- the elastic slack)
    <= 0, where an offer's source is `source_of[offer]` (its origin country, or its
    supplier). (A row block.)"""
    limits = pd.DataFrame(keys, columns=["policy_row", "component", source, "scenario",
                                         "value"])
    buy = b.families["buy"].keys
    bought = buy.assign(component=buy.offer.map(data.offers.component),
                        bought_from=buy.offer.map(source_of))
    terms = limits.assign(row=np.arange(len(limits))).merge(
        bought, on=["component", "scenario"], sort=False)
    rows = Rows(len(limits))
    rows.add("buy", terms.row, terms.position,
             (terms.bought_from == terms[source]).to_numpy(dtype=float)
             - terms.value.to_numpy(dtype=float))
    if b.elastic:
        slack = b.declare_slack(policy, limits.drop(columns="value"))
        every = np.arange(len(limits))
        rows.add(slack.name, every, every, -1.0)
    b.add_limit_block(policy, limits, rows, -np.inf, 0.0)


POLICIES: dict[str, Callable[[BuiltModel, PreparedNetwork], None]] = {
    "max_country_share": define_country_share,
    "min_suppliers": define_min_suppliers,
    "max_open_sites": define_max_open_sites,
    "capex_budget": define_capex_budget,
    "min_domestic_share": define_min_domestic_share,
    "max_supplier_share": define_supplier_share,
}
"""Each kind of policy (policies.policy, `optimizer.schema.PolicyName`) and the function that
states its rows; `define_policies` runs them in this order."""


# --- costs and objective --------------------------------------------------------------------


def define_scenario_cost(b: BuiltModel, data: PreparedNetwork) -> None:
    """cost[s] = capex + sum_t discount_t (tier fixed costs + purchase + inbound transport +
    tariffs + production + outbound transport + holding + unmet penalty), each flow priced as
    in `optimizer.costs`. Money is counted in `money_unit`s so that no row mixes cents
    with billions beyond what the solver's tolerances bear. (A row block: one row per
    scenario.)"""
    from reshore.optimizer.costs import KEYS, unit_costs

    coefficients = unit_costs(data)
    unit = data.money_unit
    S = data.scenarios
    b.declare("scenario_cost", "SCENARIO_COSTS", pd.DataFrame({"scenario": S}), table=None,
              domain=pyo.Reals)
    rows = Rows(len(S))
    every = np.arange(len(S))
    rows.add("scenario_cost", every, every, 1.0)
    first_stage = {family: coefficients.one_time[family] for family in ONE_TIME}
    first_stage["tier_operating"] = np.fromiter(coefficients.fixed.values(), float,
                                                len(coefficients.fixed))
    for family, cost in first_stage.items():
        column = np.tile(np.arange(len(cost)), len(S))
        rows.add(family, np.repeat(every, len(cost)), column, np.tile(-cost / unit, len(S)))
    scenario_row = pd.Index(S)
    for family, frame in coefficients.frames.items():
        if len(frame) != b.families[family].size:
            raise ValueError(f"{len(frame)} unit costs for {b.families[family].size} {family}"
                             " variables")
        total = frame.drop(columns=KEYS[family]).sum(axis=1).to_numpy(dtype=float)
        row = scenario_row.get_indexer(pd.Index(frame.scenario))
        if (row < 0).any():
            raise ValueError(f"{family} unit costs name a scenario not among {S}")
        rows.add(family, row, np.arange(len(frame)), -total / unit)
    b.add_block("scenario_cost_definition", rows, 0.0, 0.0)


def define_risk_objective(b: BuiltModel, data: PreparedNetwork) -> None:
    """expected: E[cost]; cvar: (1-w) E[cost] + w (eta + sum_s p_s u_s / (1-alpha)),
    u_s >= cost_s - eta, u_s >= 0; worst_case: (1-w) E[cost] + w z, z >= cost_s."""
    m = b.model
    risk = data.network.settings.risk
    p = data.probability
    expected = sum(p[s] * m.scenario_cost[s] for s in m.SCENARIOS)
    m.expected_cost = pyo.Expression(expr=expected)
    if risk.measure == "expected":
        m.objective = pyo.Objective(expr=expected, sense=pyo.minimize)
        return
    w = risk.weight
    measure = pd.DataFrame({"measure": [risk.measure]})
    if risk.measure == "cvar":
        eta = b.declare("value_at_risk", "VALUE_AT_RISK", measure, table=None,
                        domain=pyo.Reals).members()[0]
        b.declare("excess_cost", "EXCESS_COSTS", pd.DataFrame({"scenario": data.scenarios}),
                  table=None, domain=pyo.NonNegativeReals)
        m.excess_cost_definition = pyo.Constraint(
            m.SCENARIOS, rule=lambda m, s: m.excess_cost[s] >= m.scenario_cost[s] - eta)
        tail = eta + sum(p[s] * m.excess_cost[s] for s in m.SCENARIOS) / (1 - risk.alpha)
    else:
        z = b.declare("worst_cost", "WORST_COST", measure, table=None,
                      domain=pyo.Reals).members()[0]
        m.worst_cost_definition = pyo.Constraint(
            m.SCENARIOS, rule=lambda m, s: z >= m.scenario_cost[s])
        tail = z
    m.objective = pyo.Objective(expr=(1 - w) * expected + w * tail, sense=pyo.minimize)


def define_violation_objective(b: BuiltModel) -> None:
    """Elastic model: minimise unmet units plus every policy violation (relative to its value):
    the sum of every elastic slack."""
    slacks = [v for slack in b.slacks for v in slack.family.members()]
    b.model.objective = pyo.Objective(
        expr=LinearExpression(linear_coefs=[1.0] * len(slacks), linear_vars=slacks),
        sense=pyo.minimize)
