"""The network design MILP: a two-stage stochastic model over tariff scenarios.

`build` is a flat checklist of `define_*` functions, one per business rule, each stating its
inequality in the docstring and each returning early when its set is empty. All sums read
their terms from the group-bys of `optimizer.prepare`; no rule scans a table.

Notation: k site, l tier, t period, s scenario, p product, c component, o offer, j customer.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from reshore.models.linear_rows import Rows, add_block, declare, positions, start
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.schema import ANY

Model = Any
"""A `pyomo.environ.ConcreteModel` (Pyomo ships no type information)."""


def build(data: PreparedNetwork, *, elastic: bool = False) -> Model:
    """The Pyomo model of a prepared network.

    With `elastic=True` every demand may go unserved and every policy may be violated, each at
    a price, and the objective is the total violation: the model that says what cannot be met.
    """
    with PauseGC():  # hundreds of thousands of new objects: no collection passes meanwhile
        m = pyo.ConcreteModel(name="network_design")
        m.elastic = elastic
        start(m)
        define_site_decisions(m, data)
        define_flow_decisions(m, data)
        define_one_start_per_site(m, data)
        define_one_closing_per_site(m, data)
        define_tier_operating(m, data)
        define_site_operating(m, data)
        define_component_balance(m, data)
        define_product_balance(m, data)
        define_demand_service(m, data)
        define_site_capacity(m, data)
        define_capacity_covers_demand(m, data)
        define_shipments_need_operating_site(m, data)
        define_single_sourcing(m, data)
        define_supplier_capacity(m, data)
        define_non_anticipativity(m, data)
        define_policies(m, data)
        define_scenario_cost(m, data)
        if elastic:
            define_violation_objective(m)
        else:
            define_risk_objective(m, data)
    return m


# --- decisions ----------------------------------------------------------------------------


def _rows(frame: Any, columns: list[str]) -> list[tuple[Any, ...]]:
    return list(frame[columns].itertuples(index=False, name=None))


def _per_scenario(frame: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Each row of `frame` once per scenario (scenarios innermost, as the variables are
    declared)."""
    return frame.reset_index(drop=True).merge(pd.DataFrame({"scenario": scenarios}),
                                              how="cross")


def define_site_decisions(m: Model, data: PreparedNetwork) -> None:
    """First stage: open[k,l,t] (start at tier l in t), close[k,t] (an existing site stops
    from t), tier_operating[k,l,t] and site_operating[k,t] in [0, 1], qualify[o]."""
    operating = data.operating[["site", "tier", "period"]]
    declare(m, "open", "OPENINGS", data.openings[["site", "tier", "period"]], domain=pyo.Binary)
    declare(m, "close", "CLOSINGS", data.closings[["site", "period"]], domain=pyo.Binary)
    declare(m, "tier_operating", "OPERATING", operating, bounds=(0, 1))
    site_periods = operating[["site", "period"]].drop_duplicates().sort_values(
        ["site", "period"])
    declare(m, "site_operating", "SITE_PERIODS", site_periods, bounds=(0, 1))
    qualified = data.offers.index[data.offers.needs_qualification]
    declare(m, "qualify", "QUALIFIED_OFFERS", pd.DataFrame({"offer": qualified.tolist()}),
            domain=pyo.Binary)
    m.CAPEX = pyo.Expression(expr=capex(m, data))


def define_flow_decisions(m: Model, data: PreparedNetwork) -> None:
    """Second stage, per scenario: buy, make, ship, stocks and unmet demand, all >= 0.

    Unmet demand is bounded by 0 when no penalty prices it (demand must be met), except in the
    elastic model."""
    S = data.scenarios
    m.SCENARIOS = pyo.Set(initialize=S)
    flows = (("buy", "PURCHASES", data.purchases, ["offer", "site", "period"]),
             ("make", "PRODUCTION", data.production, ["site", "product", "period"]),
             ("ship", "SHIPMENTS", data.shipments, ["site", "customer", "product", "period"]),
             ("component_stock", "COMPONENT_STOCK", data.component_stock,
              ["site", "component", "period"]),
             ("product_stock", "PRODUCT_STOCK", data.product_stock,
              ["site", "product", "period"]))
    for name, index, frame, columns in flows:
        declare(m, name, index, _per_scenario(frame[columns], S),
                domain=pyo.NonNegativeReals)
    may_go_unmet = data.unmet_penalty is not None or m.elastic
    demand = data.demand
    declare(m, "unmet", "DEMAND", demand[["customer", "product", "period", "scenario"]],
            domain=pyo.NonNegativeReals)
    for variable, quantity in zip(m.unmet.values(), demand.quantity.tolist(), strict=True):
        variable.setub(quantity if may_go_unmet else 0.0)


# --- site life cycle ------------------------------------------------------------------------


def define_one_start_per_site(m: Model, data: PreparedNetwork) -> None:
    """A candidate site starts at most once, at one tier: sum_{l,t} open[k,l,t] <= 1."""
    starts: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for k, tier, t in m.OPENINGS:
        starts[k].append((k, tier, t))
    if not starts:
        return
    m.one_start_per_site = pyo.Constraint(
        list(starts), rule=lambda m, k: sum(m.open[i] for i in starts[k]) <= 1)


def define_one_closing_per_site(m: Model, data: PreparedNetwork) -> None:
    """An existing site closes at most once: sum_t close[k,t] <= 1."""
    closings: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for k, t in m.CLOSINGS:
        closings[k].append((k, t))
    if not closings:
        return
    m.one_closing_per_site = pyo.Constraint(
        list(closings), rule=lambda m, k: sum(m.close[i] for i in closings[k]) <= 1)


def define_tier_operating(m: Model, data: PreparedNetwork) -> None:
    """A tier operates from its start on, an existing site until it closes:
    tier_operating[k,l,t] = tier_operating[k,l,t-1] + open[k,l,t] - close[k,t],
    with tier_operating[k,l,-1] = 1 for an existing site and 0 for a candidate."""
    existing = set(data.sites.index[data.sites.status == "existing"])

    def rule(m: Model, k: str, tier: str, t: int) -> Any:
        previous = m.tier_operating[k, tier, t - 1] if (k, tier, t - 1) in m.OPERATING else (
            1 if k in existing else 0)
        change = -m.close[k, t] if k in existing else m.open[k, tier, t]
        return m.tier_operating[k, tier, t] == previous + change

    m.tier_operating_from_start = pyo.Constraint(m.OPERATING, rule=rule)


def define_site_operating(m: Model, data: PreparedNetwork) -> None:
    """A site operates when one of its tiers does: site_operating[k,t] = sum_l
    tier_operating[k,l,t]."""
    tiers = data.lookups.site_tiers
    m.site_operating_from_tiers = pyo.Constraint(
        m.SITE_PERIODS, rule=lambda m, k, t: m.site_operating[k, t] == sum(
            m.tier_operating[k, tier, t] for tier in tiers[k]))


# --- balances -------------------------------------------------------------------------------


def define_component_balance(m: Model, data: PreparedNetwork) -> None:
    """stock_c[k,c,t-1] + purchases arriving in t = sum_p a(p,c) make[k,p,t] + stock_c[k,c,t]."""
    if not m.COMPONENT_STOCK:
        return
    arrivals, use = data.lookups.arrivals, data.lookups.component_use

    def rule(m: Model, k: str, c: str, t: int, s: str) -> Any:
        before = m.component_stock[k, c, t - 1, s] if (k, c, t - 1, s) in m.COMPONENT_STOCK else 0
        inflow = sum(m.buy[o, k, t0, s] for o, t0 in arrivals.get((k, c, t), ()))
        used = sum(q * m.make[k, p, t, s] for p, q in use[c])
        return before + inflow == used + m.component_stock[k, c, t, s]

    m.component_balance = pyo.Constraint(m.COMPONENT_STOCK, rule=rule)


def define_product_balance(m: Model, data: PreparedNetwork) -> None:
    """stock_p[k,p,t-1] + make[k,p,t] = sum_j ship[k,j,p,t] + stock_p[k,p,t], per scenario
    (a row block: one row per product_stock variable)."""
    keys = ["site", "product", "period", "scenario"]
    stock = m.variable_keys["product_stock"]
    rows = Rows(len(stock))
    rows.add("product_stock", stock.position, stock.position, -1.0)
    before = stock.assign(period=stock.period + 1).merge(
        stock, on=keys, suffixes=("_before", ""))
    rows.add("product_stock", before.position, before.position_before, 1.0)
    rows.add("make", stock.position, positions(m, "make", stock[keys]), 1.0)
    shipped = m.variable_keys["ship"].merge(stock, on=keys, suffixes=("_ship", ""))
    rows.add("ship", shipped.position, shipped.position_ship, -1.0)
    add_block(m, "product_balance", rows, 0.0, 0.0)


def define_demand_service(m: Model, data: PreparedNetwork) -> None:
    """sum_k ship arriving in t + unmet[j,p,t] = demand[j,p,t], per scenario (a row block:
    one row per unmet variable)."""
    unmet = m.variable_keys["unmet"]
    rows = Rows(len(unmet))
    rows.add("unmet", unmet.position, unmet.position, 1.0)
    ship = _ship_arrivals(m, data)
    served = ship.merge(unmet, left_on=["customer", "product", "arrival", "scenario"],
                        right_on=["customer", "product", "period", "scenario"],
                        suffixes=("_ship", ""))
    rows.add("ship", served.position, served.position_ship, 1.0)
    quantity = data.demand.quantity.to_numpy(dtype=float)
    add_block(m, "demand_service", rows, quantity, quantity)


def _ship_arrivals(m: Model, data: PreparedNetwork) -> pd.DataFrame:
    """The ship variables' keys with each shipment's arrival period."""
    ship: pd.DataFrame = m.variable_keys["ship"]
    arrival = np.repeat(data.shipments.arrival.to_numpy(dtype=np.int64), len(data.scenarios))
    return ship.assign(arrival=arrival)


# --- capacities and linking -----------------------------------------------------------------


def define_site_capacity(m: Model, data: PreparedNetwork) -> None:
    """sum_p assembly_hours[p] make[k,p,t] <= sum_l capacity_hours[k,l] tier_operating[k,l,t]."""
    hours = data.products.set_index("product").assembly_hours.to_dict()
    capacity = data.tiers.set_index(["site", "tier"]).capacity_hours.to_dict()
    tiers, made = data.lookups.site_tiers, data.lookups.site_products

    def rule(m: Model, k: str, t: int, s: str) -> Any:
        load = sum(hours[p] * m.make[k, p, t, s] for p in made.get((k, t), ()))
        return load <= sum(capacity[k, tier] * m.tier_operating[k, tier, t] for tier in tiers[k])

    m.site_capacity = pyo.Constraint(m.SITE_PERIODS, m.SCENARIOS, rule=rule)


def define_capacity_covers_demand(m: Model, data: PreparedNetwork) -> None:
    """Valid inequality: what has been delivered by period t was assembled by t, so
    sum_{t'<=t} sum_{k,l} capacity_hours[k,l] tier_operating[k,l,t'] >=
    sum_{t'<=t} sum_{j,p} assembly_hours[p] (demand[j,p,t',s] - unmet[j,p,t',s]).
    Implied by the LP, it hands the solver the knapsack row its cover cuts need (the
    "open capacity covers total demand" cut of facility location)."""
    if not m.DEMAND or not m.OPERATING:
        return
    hours = data.products.set_index("product").assembly_hours.to_dict()
    capacity = data.tiers.set_index(["site", "tier"]).capacity_hours.to_dict()
    T = len(data.periods)
    demand_in: dict[tuple[int, str], list[tuple[str, str]]] = defaultdict(list)
    for j, p, t, s in m.DEMAND:
        demand_in[t, s].append((j, p))
    operating_in: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for k, tier, t in m.OPERATING:
        operating_in[t].append((k, tier))
    needed = {(t, s): sum(hours[p] * data.lookups.demand[j, p, t, s] for j, p in demand_in[t, s])
              for t in range(T) for s in data.scenarios}
    keys = [(t, s) for t in range(T) for s in data.scenarios
            if sum(needed[u, s] for u in range(t + 1)) > 0]

    def rule(m: Model, t: int, s: str) -> Any:
        supply = sum(capacity[k, tier] * m.tier_operating[k, tier, u]
                     for u in range(t + 1) for k, tier in operating_in[u])
        served = sum(needed[u, s] - sum(hours[p] * m.unmet[j, p, u, s]
                                        for j, p in demand_in[u, s]) for u in range(t + 1))
        return supply >= served

    m.capacity_covers_demand = pyo.Constraint(keys, rule=rule)


CHEAPEST_SITES_KEPT = 20
"""Strong linking rows of each customer's cheapest sites (per period and scenario) stay in
the LP when the solve holds the family back: the relaxation's flows go there first, so the
first LP round already has most of the rows it would otherwise add one round at a time."""


def define_shipments_need_operating_site(m: Model, data: PreparedNetwork) -> None:
    """Strong linking, per customer: sum_p ship[k,j,p,t] <= sum_p demand[j,p,arrival] *
    site_operating[k,t]. With one product it is the x_ij <= y_i of facility location (a row
    block: one row per site, customer, departure period and scenario)."""
    ship = _ship_arrivals(m, data)
    if ship.empty:
        return
    demand = data.demand.rename(columns={"period": "arrival"})
    lane_cost = (np.repeat(data.shipments.transport_cost_per_unit.to_numpy(dtype=float),
                           len(data.scenarios))
                 + data.shipment_tariffs.tariff_per_unit.to_numpy(dtype=float))
    ship = ship.assign(lane_cost=lane_cost).merge(
        demand, on=["customer", "product", "arrival", "scenario"], how="left", sort=False)
    group = ship.groupby(["site", "customer", "period", "scenario"], sort=False)
    row = group.ngroup().to_numpy()
    heads = group.head(1).reset_index(drop=True)
    need = ship.quantity.fillna(0.0).groupby(row).sum().to_numpy()
    rows = Rows(len(heads))
    rows.add("ship", row, ship.position, 1.0)
    rows.add("site_operating", np.arange(len(heads)),
             positions(m, "site_operating", heads[["site", "period"]]), -need)
    heads["lane_cost"] = ship.lane_cost.groupby(row).mean().to_numpy()
    rank = heads.groupby(["customer", "period", "scenario"]).lane_cost.rank(method="first")
    add_block(m, "shipments_need_operating_site", rows, -np.inf, 0.0,
              kept=(rank <= CHEAPEST_SITES_KEPT).to_numpy())


def define_single_sourcing(m: Model, data: PreparedNetwork) -> None:
    """A single-sourced customer gets each product from one site over the whole horizon:
    sum_k assign[k,j,p] = 1 and ship[k,j,p,t] <= demand[j,p,arrival] * assign[k,j,p].

    When all demand must be met the row is an equality, ship = demand * assign: the
    assigned site ships all of it. Presolve then substitutes ship out, and the strong
    linking row becomes assign[k,j,p] <= site_operating[k,t], the x_ij <= y_i of single-source
    facility location (without it the binaries are not tied to the sites in the LP)."""
    if data.single_source.empty:
        return
    assignments = _rows(data.single_source, ["site", "customer", "product"])
    m.ASSIGNMENTS = pyo.Set(initialize=assignments, dimen=3)
    m.assign = pyo.Var(m.ASSIGNMENTS, domain=pyo.Binary)
    sites: dict[tuple[str, str], list[str]] = defaultdict(list)
    for k, j, p in assignments:
        sites[j, p].append(k)
    m.one_source_per_product = pyo.Constraint(
        list(sites), rule=lambda m, j, p: sum(m.assign[k, j, p] for k in sites[j, p]) == 1)
    arrival, demand = data.lookups.shipment_arrival, data.lookups.demand
    single = [key for key in m.SHIPMENTS if (key[0], key[1], key[2]) in m.ASSIGNMENTS]
    must_meet = data.unmet_penalty is None and not m.elastic

    def rule(m: Model, k: str, j: str, p: str, t: int, s: str) -> Any:
        quantity = demand.get((j, p, arrival[k, j, p, t], s), 0.0)
        if must_meet:
            return m.ship[k, j, p, t, s] == quantity * m.assign[k, j, p]
        return m.ship[k, j, p, t, s] <= quantity * m.assign[k, j, p]

    m.shipments_from_assigned_site = pyo.Constraint(single, rule=rule)


def _component_need(data: PreparedNetwork) -> dict[str, float]:
    """Units of each component that the whole horizon's demand could use (worst scenario)."""
    by_scenario = data.demand.groupby(["product", "scenario"]).quantity.sum()
    worst = {str(p): float(q) for p, q in by_scenario.groupby(level="product").max().items()}
    need: dict[str, float] = defaultdict(float)
    for product, component, quantity in _rows(data.bom, ["product", "component", "quantity"]):
        need[component] += float(quantity) * worst.get(product, 0.0)
    return need


def define_supplier_capacity(m: Model, data: PreparedNetwork) -> None:
    """sum_k buy[o,k,t] <= capacity_per_period[o] * qualify[o] (qualify = 1 for offers that
    need no qualification; an unlimited offer that needs one is bounded by total need)."""
    buyers = data.lookups.offer_buyers
    offers = data.offers
    need = _component_need(data)
    keys = [(o, t, s) for (o, t) in buyers for s in data.scenarios
            if offers.needs_qualification[o] or not _unlimited(offers.capacity_per_period[o])]
    if not keys:
        return

    def rule(m: Model, o: str, t: int, s: str) -> Any:
        bought = sum(m.buy[o, k, t, s] for k in buyers[o, t])
        cap = offers.capacity_per_period[o]
        limit = need[offers.component[o]] if _unlimited(cap) else float(cap)
        return bought <= limit * (m.qualify[o] if offers.needs_qualification[o] else 1)

    m.supplier_capacity = pyo.Constraint(keys, rule=rule)


def _unlimited(capacity: Any) -> bool:
    return capacity is None or capacity != capacity  # None or NaN


def define_non_anticipativity(m: Model, data: PreparedNetwork) -> None:
    """What is bought, made and shipped in the first commit_periods periods is the same in every
    scenario: x[..., t, s] = x[..., t, s0] for t < commit_periods."""
    S, commit = data.scenarios, data.commit_periods
    if len(S) < 2 or commit == 0:
        return
    first = S[0]
    for name, variable, index in (("buy", m.buy, m.PURCHASES), ("make", m.make, m.PRODUCTION),
                                  ("ship", m.ship, m.SHIPMENTS)):
        keys = [key for key in index if key[-1] != first and key[-2] < commit]
        if keys:
            setattr(m, f"same_{name}_in_committed_periods", pyo.Constraint(
                keys, rule=lambda m, *key, v=variable: v[key] == v[(*key[:-1], first)]))


# --- policies -------------------------------------------------------------------------------


def _policy_slack(m: Model, name: str, keys: list[Any]) -> Any:
    """In the elastic model a policy row may be violated by a priced slack; else 0."""
    if not m.elastic:
        return defaultdict(int)
    slack = pyo.Var(keys, domain=pyo.NonNegativeReals)
    setattr(m, f"{name}_violation", slack)
    return slack


def define_policies(m: Model, data: PreparedNetwork) -> None:
    """Every row of the policies table, by its kind."""
    define_country_share(m, data)
    define_min_suppliers(m, data)
    define_max_open_sites(m, data)
    define_capex_budget(m, data)
    define_min_domestic_share(m, data)


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


def define_country_share(m: Model, data: PreparedNetwork) -> None:
    """Per scenario, component c and country n, over the horizon:
    sum of purchases of c from n <= value * sum of purchases of c ('*' = each one)."""
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
    slack = _policy_slack(m, "max_country_share", [k[:4] for k in keys])

    def rule(m: Model, i: int, c: str, n: str, s: str, value: float) -> Any:
        mine = bought.get((c, s), [])
        from_n = sum(m.buy[key] for key in mine if origin[key[0]] == n)
        return from_n <= value * sum(m.buy[key] for key in mine) + slack[i, c, n, s]

    m.max_country_share = pyo.Constraint(keys, rule=rule)


def define_min_suppliers(m: Model, data: PreparedNetwork) -> None:
    """At least `value` distinct suppliers qualified for component c:
    sum_sigma supplier_qualified[sigma,c] >= value, supplier_qualified <= sum qualify[o]."""
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
    m.SUPPLIER_COMPONENTS = pyo.Set(initialize=sorted(offers_of), dimen=2)
    m.supplier_qualified = pyo.Var(m.SUPPLIER_COMPONENTS, domain=pyo.Binary)
    m.supplier_qualified_by_offer = pyo.Constraint(
        m.SUPPLIER_COMPONENTS, rule=lambda m, sigma, c: m.supplier_qualified[sigma, c] <= sum(
            m.qualify[o] for o in offers_of[sigma, c]))
    keys = []
    for i, comp, _, value in rows:
        components = sorted(set(offers.component)) if comp == ANY else [comp]
        keys += [(i, c, value) for c in components]
    slack = _policy_slack(m, "min_suppliers", [k[:2] for k in keys])
    m.min_suppliers = pyo.Constraint(keys, rule=lambda m, i, c, value: sum(
        m.supplier_qualified[sigma, c0] for sigma, c0 in offers_of if c0 == c
    ) + slack[i, c] >= value)


def define_max_open_sites(m: Model, data: PreparedNetwork) -> None:
    """At most `value` sites operate in any period: sum_k site_operating[k,t] <= value."""
    rows = _policy_rows(data, "max_open_sites")
    if not rows:
        return
    sites_in: dict[int, list[str]] = defaultdict(list)
    for k, t in m.SITE_PERIODS:
        sites_in[t].append(k)
    keys = [(i, t, value) for i, _, _, value in rows for t in sorted(sites_in)]
    slack = _policy_slack(m, "max_open_sites", [k[:2] for k in keys])
    m.max_open_sites = pyo.Constraint(keys, rule=lambda m, i, t, value: sum(
        m.site_operating[k, t] for k in sites_in[t]) <= value + slack[i, t])


def capex(m: Model, data: PreparedNetwork) -> Any:
    """One-time spend, in money units: opening + closing + supplier qualification costs."""
    unit = data.money_unit
    opening = dict(zip(_rows(data.openings, ["site", "tier", "period"]),
                       data.openings.opening_cost / unit, strict=True))
    closing = dict(zip(_rows(data.closings, ["site", "period"]),
                       data.closings.closing_cost / unit, strict=True))
    qualification = data.offers.qualification_cost / unit
    return (sum(opening[key] * m.open[key] for key in m.OPENINGS)
            + sum(closing[key] * m.close[key] for key in m.CLOSINGS)
            + sum(float(qualification[o]) * m.qualify[o] for o in m.QUALIFIED_OFFERS))


def define_capex_budget(m: Model, data: PreparedNetwork) -> None:
    """opening + closing + qualification costs <= value."""
    rows = _policy_rows(data, "capex_budget")
    if not rows:
        return
    unit = data.money_unit
    keys = [(i, value / unit) for i, _, _, value in rows]
    slack = _policy_slack(m, "capex_budget", [k[0] for k in keys])
    m.capex_budget = pyo.Constraint(
        keys, rule=lambda m, i, budget: budget + slack[i] * max(budget, 1.0) >= m.CAPEX)


def define_min_domestic_share(m: Model, data: PreparedNetwork) -> None:
    """Per scenario: purchase value of domestic origin >= value * all purchase value, over the
    horizon, for one component or all ('*'). Domestic = the policy's country, or for '*' the
    receiving site's country."""
    rows = _policy_rows(data, "min_domestic_share")
    if not rows:
        return
    price = (data.purchases.set_index(["offer", "site", "period"]).unit_price
             / data.money_unit).to_dict()
    origin = data.offers.origin_country.to_dict()
    site_country = data.sites.country.to_dict()
    keys = [(i, s) for i, _, _, _ in rows for s in data.scenarios]
    policy = {i: (comp, country, value) for i, comp, country, value in rows}
    slack = _policy_slack(m, "min_domestic_share", keys)

    bought = _purchases_of(m, data)

    def rule(m: Model, i: int, s: str) -> Any:
        comp, country, value = policy[i]
        mine = [key for (c, s0), group in bought.items() if s0 == s and comp in (ANY, c)
                for key in group]
        home = {key: (site_country[key[1]] if country == ANY else country) for key in mine}
        domestic = sum(price[key[:3]] * m.buy[key] for key in mine if origin[key[0]] == home[key])
        total = sum(price[key[:3]] * m.buy[key] for key in mine)
        return domestic + slack[i, s] * max(1.0, value) >= value * total

    m.min_domestic_share = pyo.Constraint(keys, rule=rule)


# --- costs and objective --------------------------------------------------------------------


def define_scenario_cost(m: Model, data: PreparedNetwork) -> None:
    """cost[s] = capex + sum_t discount_t (tier fixed costs + purchase + inbound transport +
    tariffs + production + outbound transport + holding + unmet penalty), each flow priced as
    in `optimizer.costs`. Money is counted in `money_unit`s so that no row mixes cents
    with billions beyond what the solver's tolerances bear. (A row block: one row per
    scenario.)"""
    from reshore.optimizer.costs import KEYS, unit_costs

    coefficients = unit_costs(data)
    unit = data.money_unit
    S = data.scenarios
    declare(m, "scenario_cost", "SCENARIO_COSTS", pd.DataFrame({"scenario": S}),
            domain=pyo.Reals)
    rows = Rows(len(S))
    every = np.arange(len(S))
    rows.add("scenario_cost", every, every, 1.0)
    first_stage = (("open", data.openings.opening_cost),
                   ("close", data.closings.closing_cost),
                   ("qualify", data.offers.qualification_cost[data.offers.needs_qualification]),
                   ("tier_operating", pd.Series(list(coefficients.fixed.values()), dtype=float)))
    for family, cost in first_stage:
        column = np.tile(np.arange(len(cost)), len(S))
        rows.add(family, np.repeat(every, len(cost)), column,
                 np.tile(-cost.to_numpy(dtype=float) / unit, len(S)))
    scenario_row = {s: i for i, s in enumerate(S)}
    for family, frame in coefficients.frames.items():
        keys = KEYS[family]
        total = frame.drop(columns=keys).sum(axis=1).to_numpy(dtype=float)
        rows.add(family, frame.scenario.map(scenario_row).to_numpy(),
                 positions(m, family, frame[keys]), -total / unit)
    add_block(m, "scenario_cost_definition", rows, 0.0, 0.0)


def define_risk_objective(m: Model, data: PreparedNetwork) -> None:
    """expected: E[cost]; cvar: (1-w) E[cost] + w (eta + sum_s p_s u_s / (1-alpha)),
    u_s >= cost_s - eta, u_s >= 0; worst_case: (1-w) E[cost] + w z, z >= cost_s."""
    risk = data.network.settings.risk
    p = data.probability
    expected = sum(p[s] * m.scenario_cost[s] for s in m.SCENARIOS)
    m.expected_cost = pyo.Expression(expr=expected)
    if risk.measure == "expected":
        m.objective = pyo.Objective(expr=expected, sense=pyo.minimize)
        return
    w = risk.weight
    if risk.measure == "cvar":
        m.value_at_risk = pyo.Var(domain=pyo.Reals)
        m.excess_cost = pyo.Var(m.SCENARIOS, domain=pyo.NonNegativeReals)
        m.excess_cost_definition = pyo.Constraint(
            m.SCENARIOS,
            rule=lambda m, s: m.excess_cost[s] >= m.scenario_cost[s] - m.value_at_risk)
        tail = m.value_at_risk + sum(p[s] * m.excess_cost[s] for s in m.SCENARIOS) / (
            1 - risk.alpha)
    else:
        m.worst_cost = pyo.Var(domain=pyo.Reals)
        m.worst_cost_definition = pyo.Constraint(
            m.SCENARIOS, rule=lambda m, s: m.worst_cost >= m.scenario_cost[s])
        tail = m.worst_cost
    m.objective = pyo.Objective(expr=(1 - w) * expected + w * tail, sense=pyo.minimize)


def define_violation_objective(m: Model) -> None:
    """Elastic model: minimise unmet units plus every policy violation (relative to its value)."""
    violations = [v for v in m.component_objects(pyo.Var) if v.name.endswith("_violation")]
    m.objective = pyo.Objective(
        expr=sum(m.unmet[key] for key in m.DEMAND) + sum(
            variable[key] for variable in violations for key in variable),
        sense=pyo.minimize)
