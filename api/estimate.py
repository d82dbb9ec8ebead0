"""An upper estimate of the model's size from the validated tables, before anything is built.

Counts follow the variable families of `models.network_design` (site decisions, and per
scenario: purchases, production, shipments, stocks, unmet demand), restricted by the lanes when
the instance lists them. It is a bound, not an exact count: lanes that no flow can use and
offers that can never arrive still count.

Nonzeros follow the constraint families: most rows hold a few terms per variable, but the
valid inequality `capacity_covers_demand` sums, for every period t and scenario, the capacity
of every tier and the unmet demand of every period up to t: it grows with the square of the
periods (6,000 periods of one tier: 18 million nonzeros), and so do the time and memory of
building the model and handing it to HiGHS.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from reshore.optimizer.schema import ANY, Network


@dataclass(frozen=True)
class SizeEstimate:
    variables: int
    integer_variables: int
    constraints: int
    nonzeros: int

    def as_dict(self) -> dict[str, int]:
        return {"variables": self.variables, "integer_variables": self.integer_variables,
                "constraints": self.constraints, "nonzeros": self.nonzeros}


TERMS_PER_VARIABLE = 4
"""Rows a variable of the linear families appears in, at most roughly (its balance, a
capacity or linking row, demand service and the objective)."""


def estimate_size(network: Network) -> SizeEstimate:
    """Variables, integer variables and constraints the model will have, at most roughly."""
    periods = len(network.settings.periods)
    scenarios = len(network.scenarios)
    sites = [s.site for s in network.sites]
    site_set = set(sites)
    products = len(network.products)
    components = len(network.components)

    destinations: dict[str, set[str]] = defaultdict(set)
    if network.lanes is not None:
        for lane in network.lanes:
            destinations[lane.origin].add(lane.destination)
    customers = [c.customer for c in network.customers]

    def reachable(origin: str, candidates: list[str]) -> int:
        if network.lanes is None:
            return len(candidates)
        return len(destinations[origin].intersection(candidates))

    purchase_keys = sum(reachable(o.supplier, sites) for o in network.offers)
    demanded: dict[str, set[str]] = defaultdict(set)
    for row in network.demand:
        demanded[row.customer].add(row.product)
    shipment_keys = sum(len(demanded[customer]) * sum(
        1 for site in sites if network.lanes is None or customer in destinations[site])
        for customer in customers)
    stock_keys = len(site_set) * (products + components)
    production_keys = len(site_set) * products
    flows = (purchase_keys + shipment_keys + stock_keys + production_keys) * periods * scenarios
    unmet = sum(scenarios if row.scenario == ANY else 1 for row in network.demand) * periods
    tiers = len(network.site_tiers)
    single = sum(1 for c in network.customers if c.single_source)
    integers = tiers * periods + len(sites) * periods + len(network.offers) + (
        single * len(sites) * products)
    risk = 3 * scenarios + 2  # scenario costs, CVaR excess and threshold, worst case
    variables = flows + unmet + integers + (tiers + len(sites)) * periods + risk
    constraints = (stock_keys + production_keys + shipment_keys + len(site_set)) * (
        periods * scenarios) + unmet + 2 * tiers * periods + risk
    nonzeros = TERMS_PER_VARIABLE * variables + cumulative_capacity_nonzeros(network)
    return SizeEstimate(variables=int(variables), integer_variables=int(integers),
                        constraints=int(constraints), nonzeros=int(nonzeros))


def cumulative_capacity_nonzeros(network: Network) -> int:
    """Nonzeros of `capacity_covers_demand`: for each scenario s and each period t from the
    first one with demand, every tier's operating variable in periods 0..t and every unmet
    variable of periods 0..t: sum over t of (t+1) * tiers + demand rows up to t."""
    periods = len(network.settings.periods)
    scenarios = len(network.scenarios)
    index = {period: t for t, period in enumerate(network.settings.periods)}
    per_period = [0] * periods
    for row in network.demand:
        t = index.get(row.period)
        if t is not None:
            per_period[t] += scenarios if row.scenario == ANY else 1
    first = next((t for t, count in enumerate(per_period) if count), None)
    if first is None:
        return 0
    tiers = len(network.site_tiers)
    operating = tiers * scenarios * (periods * (periods + 1) - first * (first + 1)) // 2
    unmet, seen = 0, 0
    for t in range(periods):
        seen += per_period[t]
        if t >= first:
            unmet += seen
    return operating + unmet
