"""The row-block families of `models.network_design` written the plain Pyomo way, one rule per
row, as they were before they became row blocks: the reference the blocks are checked
against (`tests/test_linear_rows.py`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyomo.environ as pyo

from reshore.optimizer.costs import ONE_TIME, unit_costs
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.schema import ANY

Model = Any


def product_balance(m: Model, data: PreparedNetwork) -> Any:
    """stock_p[k,p,t-1] + make[k,p,t] = sum_j ship[k,j,p,t] + stock_p[k,p,t]."""
    departures = data.lookups.departures

    def rule(m: Model, k: str, p: str, t: int, s: str) -> Any:
        before = m.product_stock[k, p, t - 1, s] if (k, p, t - 1, s) in m.PRODUCT_STOCK else 0
        shipped = sum(m.ship[k, j, p, t, s] for j, _ in departures.get((k, p, t), ()))
        return before + m.make[k, p, t, s] == shipped + m.product_stock[k, p, t, s]

    return pyo.Constraint(m.PRODUCT_STOCK, rule=rule)


def demand_service(m: Model, data: PreparedNetwork) -> Any:
    """sum_k ship arriving in t + unmet[j,p,t] = demand[j,p,t]."""
    deliveries, demand = data.lookups.deliveries, data.lookups.demand

    def rule(m: Model, j: str, p: str, t: int, s: str) -> Any:
        served = sum(m.ship[k, j, p, t0, s] for k, t0 in deliveries.get((j, p, t), ()))
        return served + m.unmet[j, p, t, s] == demand[j, p, t, s]

    return pyo.Constraint(m.DEMAND, rule=rule)


def shipments_need_operating_site(m: Model, data: PreparedNetwork) -> Any:
    """sum_p ship[k,j,p,t] <= sum_p demand[j,p,arrival] * site_operating[k,t]."""
    arrival, demand = data.lookups.shipment_arrival, data.lookups.demand
    products: dict[tuple[str, str, int, str], list[str]] = defaultdict(list)
    for k, j, p, t, s in m.SHIPMENTS:
        products[k, j, t, s].append(p)

    def rule(m: Model, k: str, j: str, t: int, s: str) -> Any:
        made = products[k, j, t, s]
        quantity = sum(demand.get((j, p, arrival[k, j, p, t], s), 0.0) for p in made)
        return sum(m.ship[k, j, p, t, s] for p in made) <= quantity * m.site_operating[k, t]

    return pyo.Constraint(list(products), rule=rule)


def scenario_cost_definition(m: Model, data: PreparedNetwork) -> Any:
    """cost[s] = capex + discounted fixed costs + every flow at its unit cost."""
    coefficients = unit_costs(data)
    unit = data.money_unit
    capex = sum(cost / unit * variable for family in ONE_TIME for cost, variable in zip(
        coefficients.one_time[family], getattr(m, family).values(), strict=True))
    fixed = {key: f / unit for key, f in coefficients.fixed.items()}
    terms: dict[Any, list[Any]] = defaultdict(list)
    for family, table in coefficients.per_scenario.items():
        variable = getattr(m, family)
        for key, coefficient in table.items():
            if coefficient:
                terms[key[-1]].append(coefficient / unit * variable[key])
    return pyo.Constraint(m.SCENARIOS, rule=lambda m, s: m.scenario_cost[s] == capex + sum(
        f * m.tier_operating[key] for key, f in fixed.items() if f) + sum(terms[s]))


def component_balance(m: Model, data: PreparedNetwork) -> Any:
    """stock_c[k,c,t-1] + purchases arriving in t = sum_p a(p,c) make[k,p,t] + stock_c[k,c,t]."""
    arrivals, use = data.lookups.arrivals, data.lookups.component_use

    def rule(m: Model, k: str, c: str, t: int, s: str) -> Any:
        before = m.component_stock[k, c, t - 1, s] if (k, c, t - 1, s) in m.COMPONENT_STOCK else 0
        inflow = sum(m.buy[o, k, t0, s] for o, t0 in arrivals.get((k, c, t), ()))
        used = sum(q * m.make[k, p, t, s] for p, q in use[c])
        return before + inflow == used + m.component_stock[k, c, t, s]

    return pyo.Constraint(m.COMPONENT_STOCK, rule=rule)


def capacity_covers_demand(m: Model, data: PreparedNetwork) -> Any:
    """sum_{t'<=t} capacity of the operating tiers >= sum_{t'<=t} assembly hours of the
    demand served."""
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

    return pyo.Constraint(keys, rule=rule)


def one_source_per_product(m: Model, data: PreparedNetwork) -> Any:
    """sum_k assign[k,j,p] = 1."""
    sites: dict[tuple[str, str], list[str]] = defaultdict(list)
    for k, j, p in m.ASSIGNMENTS:
        sites[j, p].append(k)
    return pyo.Constraint(list(sites), rule=lambda m, j, p: sum(
        m.assign[k, j, p] for k in sites[j, p]) == 1)


def shipments_from_assigned_site(m: Model, data: PreparedNetwork) -> Any:
    """ship[k,j,p,t] = demand[j,p,arrival] * assign[k,j,p] when all demand must be met,
    else <=."""
    arrival, demand = data.lookups.shipment_arrival, data.lookups.demand
    single = [key for key in m.SHIPMENTS if (key[0], key[1], key[2]) in m.ASSIGNMENTS]
    must_meet = data.unmet_penalty is None

    def rule(m: Model, k: str, j: str, p: str, t: int, s: str) -> Any:
        quantity = demand.get((j, p, arrival[k, j, p, t], s), 0.0)
        if must_meet:
            return m.ship[k, j, p, t, s] == quantity * m.assign[k, j, p]
        return m.ship[k, j, p, t, s] <= quantity * m.assign[k, j, p]

    return pyo.Constraint(single, rule=rule)


def _same_in_committed_periods(name: str) -> Any:
    def family_rule(m: Model, data: PreparedNetwork) -> Any:
        """x[..., t, s] = x[..., t, s0] for t < commit_periods."""
        first, commit = data.scenarios[0], data.commit_periods
        variable = getattr(m, name)
        keys = [key for key in variable if key[-1] != first and key[-2] < commit]
        return pyo.Constraint(keys, rule=lambda m, *key: variable[key] == variable[
            (*key[:-1], first)])
    return family_rule


def supplier_capacity(m: Model, data: PreparedNetwork) -> Any:
    """sum_k buy[o,k,t] <= capacity[o,t] * qualify[o] (capacity by order period)."""
    buyers = data.lookups.offer_buyers
    offers = data.offers
    capacity = data.offer_capacity
    by_scenario = data.demand.groupby(["product", "scenario"]).quantity.sum()
    worst = {str(p): float(q) for p, q in by_scenario.groupby(level="product").max().items()}
    need: dict[str, float] = defaultdict(float)
    for p, c, q in data.bom[["product", "component", "quantity"]].itertuples(index=False):
        need[c] += float(q) * worst.get(p, 0.0)
    keys = [(o, t, s) for (o, t) in buyers for s in data.scenarios
            if offers.needs_qualification[o] or (o, t) in capacity]

    def rule(m: Model, o: str, t: int, s: str) -> Any:
        bought = sum(m.buy[o, k, t, s] for k in buyers[o, t])
        limit = capacity.get((o, t), need[offers.component[o]])
        return bought <= limit * (m.qualify[o] if offers.needs_qualification[o] else 1)

    return pyo.Constraint(keys, rule=rule)


def _purchases_of(m: Model, data: PreparedNetwork) -> dict[tuple[str, str], list[Any]]:
    component = data.offers.component.to_dict()
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for key in m.PURCHASES:
        grouped[component[key[0]], key[3]].append(key)
    return grouped


def _policy_rows(data: PreparedNetwork, name: str) -> list[tuple[int, str, str, float]]:
    rows = data.policies[data.policies.policy == name]
    return [(int(i), str(c), str(n), float(v)) for i, c, n, v
            in rows[["component", "country", "value"]].itertuples(index=True, name=None)]


def _share_rows(m: Model, keys: list[Any], source_of: dict[Any, str],
                bought: dict[Any, list[Any]]) -> Any:
    def rule(m: Model, i: int, c: str, g: str, s: str, value: float) -> Any:
        mine = bought.get((c, s), [])
        from_g = sum(m.buy[key] for key in mine if source_of[key[0]] == g)
        return from_g <= value * sum(m.buy[key] for key in mine)

    return pyo.Constraint(keys, rule=rule)


def max_country_share(m: Model, data: PreparedNetwork) -> Any:
    """Purchases of c from country n <= value * purchases of c, per scenario."""
    bought = _purchases_of(m, data)
    origin = data.offers.origin_country.to_dict()
    keys = []
    for i, comp, country, value in _policy_rows(data, "max_country_share"):
        for c in sorted({c for c, _ in bought}) if comp == ANY else [comp]:
            countries = sorted({origin[key[0]] for s in data.scenarios
                                for key in bought.get((c, s), ())}) if country == ANY \
                else [country]
            keys += [(i, c, n, s, value) for n in countries for s in data.scenarios]
    return _share_rows(m, keys, origin, bought)


def max_supplier_share(m: Model, data: PreparedNetwork) -> Any:
    """Purchases of c from supplier sigma <= value * purchases of c, per scenario."""
    bought = _purchases_of(m, data)
    supplier = data.offers.supplier.to_dict()
    based_in = {s.supplier: s.country for s in data.network.suppliers}
    keys = []
    for i, comp, country, value in _policy_rows(data, "max_supplier_share"):
        for c in sorted({c for c, _ in bought}) if comp == ANY else [comp]:
            sellers = {supplier[key[0]] for s in data.scenarios for key in bought.get((c, s), ())}
            keys += [(i, c, sigma, s, value) for sigma in sorted(sellers)
                     if country in (ANY, based_in[sigma]) for s in data.scenarios]
    return _share_rows(m, keys, supplier, bought)


RULES = {
    "product_balance": product_balance,
    "demand_service": demand_service,
    "shipments_need_operating_site": shipments_need_operating_site,
    "scenario_cost_definition": scenario_cost_definition,
    "component_balance": component_balance,
    "capacity_covers_demand": capacity_covers_demand,
    "one_source_per_product": one_source_per_product,
    "shipments_from_assigned_site": shipments_from_assigned_site,
    "supplier_capacity": supplier_capacity,
    "max_country_share": max_country_share,
    "max_supplier_share": max_supplier_share,
    **{f"same_{name}_in_committed_periods": _same_in_committed_periods(name)
       for name in ("buy", "make", "ship")},
}
