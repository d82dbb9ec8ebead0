"""The row-block families of `models.network_design` written the plain Pyomo way, one rule per
row, as they were before they became row blocks: the reference the blocks are checked
against (`tests/test_linear_rows.py`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyomo.environ as pyo

from reshore.optimizer.costs import ONE_TIME, unit_costs
from reshore.optimizer.prepare import PreparedNetwork

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


RULES = {
    "product_balance": product_balance,
    "demand_service": demand_service,
    "shipments_need_operating_site": shipments_need_operating_site,
    "scenario_cost_definition": scenario_cost_definition,
}
