"""Independent plan checker: recompute every constraint and every cost of a `Plan` from the
input tables alone.

Nothing here reads the Pyomo model, `optimizer.prepare` or `optimizer.costs`: the rules are
written again, in plain Python over the contract's rows, so that a mistake in the model and
the same mistake in the checker would have to be made twice. Tests run `check` on every plan
they solve.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reshore.optimizer.results import Plan
from reshore.optimizer.schema import ANY, Network, Policy

RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Violation:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


@dataclass
class CheckReport:
    violations: list[Violation] = field(default_factory=list)
    scenario_costs: dict[str, float] = field(default_factory=dict)
    objective: float | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    def __str__(self) -> str:
        if self.ok:
            return "plan passes every check"
        return "\n".join(str(v) for v in self.violations)


def _close(a: float, b: float, scale: float | None = None) -> bool:
    size = max(abs(a), abs(b), 1.0) if scale is None else max(scale, 1.0)
    return abs(a - b) <= ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * size


def _records(frame: pd.DataFrame) -> Iterable[Any]:
    return frame.itertuples(index=False)


def _haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, h)))


class _Checker:
    def __init__(self, network: Network, plan: Plan) -> None:
        self.network, self.plan = network, plan
        self.report = CheckReport()
        settings = network.settings
        self.periods = list(settings.periods)
        self.index = {p: i for i, p in enumerate(self.periods)}
        self.scenarios = {s.scenario: s.probability for s in network.scenarios}
        self.discount = [(1 + settings.discount_rate) ** -i for i in range(len(self.periods))]
        self.sites = {s.site: s for s in network.sites}
        self.tiers = {(t.site, t.tier): t for t in network.site_tiers}
        self.products = {p.product: p for p in network.products}
        self.components = {c.component: c for c in network.components}
        self.suppliers = {s.supplier: s for s in network.suppliers}
        self.offers = {o.offer: o for o in network.offers}
        self.customers = {c.customer: c for c in network.customers}
        self.bom: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for line in network.bom:
            self.bom[line.product].append((line.component, line.quantity))
        self.lanes = self._lanes()
        self.demand = self._demand()
        self.t = plan.tables
        self.needs_qualification = self._offers_needing_qualification()

    def fail(self, rule: str, where: str, message: str) -> None:
        self.report.violations.append(Violation(rule, where, message))

    # --- input as the contract defines it ---------------------------------------------------

    def _lanes(self) -> dict[tuple[str, str], tuple[float, int]]:
        if self.network.lanes is not None:
            return {(lane.origin, lane.destination): (lane.cost_per_unit, lane.transit_periods)
                    for lane in self.network.lanes}
        rate = self.network.settings.transport_cost_per_unit_km
        points: dict[str, tuple[float, float]] = {}
        for supplier in self.network.suppliers:
            points[supplier.supplier] = (supplier.lat or 0.0, supplier.lon or 0.0)
        for site in self.network.sites:
            points[site.site] = (site.lat or 0.0, site.lon or 0.0)
        for customer in self.network.customers:
            points[customer.customer] = (customer.lat or 0.0, customer.lon or 0.0)
        lanes = {}
        for origin in [*self.suppliers, *self.sites]:
            targets = self.sites if origin in self.suppliers else self.customers
            for destination in targets:
                km = _haversine_km(points[origin], points[destination])
                lanes[origin, destination] = (km * rate, 0)
        return lanes

    def origin_country(self, offer: str) -> str:
        """The offer's country of origin: its own column, else its supplier's country."""
        given = self.offers[offer]
        return given.origin_country or self.suppliers[given.supplier].country

    def offer_capacity(self, offer: str, period: int) -> float | None:
        """The offer's capacity in an order period: its offer_capacities row with the latest
        from_period not after the period, else its capacity_per_period (None: unlimited)."""
        latest: tuple[int, float] | None = None
        for row in self.network.offer_capacities:
            start = self.index[row.from_period]
            if row.offer == offer and start <= period and (latest is None or start > latest[0]):
                latest = (start, row.capacity_per_period)
        return latest[1] if latest is not None else self.offers[offer].capacity_per_period

    def _offers_needing_qualification(self) -> set[str]:
        """Offers with a qualification cost, and every offer of a component under a
        min_suppliers policy."""
        counted = {c for p in self.network.policies if p.policy == "min_suppliers"
                   for c in (self.components if p.component == ANY else [p.component])}
        return {o.offer for o in self.offers.values()
                if o.qualification_cost > 0 or o.component in counted}

    def _demand(self) -> dict[tuple[str, str, int, str], float]:
        demand: dict[tuple[str, str, int, str], float] = {}
        for row in self.network.demand:
            if row.scenario != ANY:
                demand[row.customer, row.product, self.index[row.period], row.scenario] = (
                    row.quantity)
        for row in self.network.demand:
            if row.scenario == ANY:
                for s in self.scenarios:
                    demand.setdefault((row.customer, row.product, self.index[row.period], s),
                                      row.quantity)
        return {k: q for k, q in demand.items() if q > 0}

    def tariff_rate(self, scenario: str, origin: str, destination: str, tariff_class: str,
                    period: int) -> float:
        if origin == destination:
            return 0.0
        total = 0.0
        for row in self.network.tariffs:
            if (row.origin_country in (ANY, origin)
                    and row.destination_country in (ANY, destination)
                    and row.scenario in (ANY, scenario)
                    and row.tariff_class in (ANY, tariff_class)
                    and (row.from_period is None or self.index[row.from_period] <= period)):
                total += row.rate
        return total

    # --- the plan's first-stage decisions ---------------------------------------------------

    def operating_tier(self, site: str, period: int) -> str | None:
        return self._operating.get((site, period))

    def check_sites(self) -> None:
        self._operating: dict[tuple[str, int], str] = {}
        seen = set()
        for row in _records(self.t["sites"]):
            site = self.sites.get(row.site)
            where = f"sites {row.site}"
            if site is None:
                self.fail("sites", where, "unknown site")
                continue
            seen.add(row.site)
            if row.status in ("open", "existing"):
                tier = str(row.tier)
                if (row.site, tier) not in self.tiers:
                    self.fail("sites", where, f"unknown tier {tier}")
                    continue
                start = self.index.get(str(row.open_period), -1)
                if row.status == "open":
                    if site.status != "candidate":
                        self.fail("sites", where, "an existing site cannot be opened")
                    earliest = max(self.index.get(site.earliest_open_period or "", 0),
                                   site.build_periods)
                    if start < earliest:
                        self.fail("build_lead_time", where,
                                  f"opens in {row.open_period}, before its earliest possible"
                                  f" period {self.periods[min(earliest, len(self.periods) - 1)]}")
                elif site.status != "existing":
                    self.fail("sites", where, "a candidate site cannot be 'existing'")
                for t in range(max(start, 0), len(self.periods)):
                    self._operating[row.site, t] = tier
            elif row.status == "closed":
                self._check_closed_site(row, site, where)
            elif row.status == "not opened" and site.status == "existing":
                self.fail("sites", where, "an existing site is either kept or closed")
        for name in set(self.sites) - seen:
            self.fail("sites", f"sites {name}", "site missing from the plan")

    def _check_closed_site(self, row: Any, site: Any, where: str) -> None:
        """A closed site operates until its close period: an existing site from the first
        period at its one tier; a candidate (closed by a replan) from its open period at the
        tier it opened at, which it pays for as well."""
        stop = self.index.get(str(row.close_period), -1)
        if stop < 0:
            self.fail("sites", where, f"unknown close period {row.close_period}")
            return
        if site.status == "existing":
            start = 0
            tier = next(t for (k, t) in self.tiers if k == row.site)
        else:
            start = self.index.get(str(row.open_period), -1)
            tier = str(row.tier)
            if start < 0 or (row.site, tier) not in self.tiers:
                self.fail("sites", where, "a closed candidate site names the period and"
                          " tier it opened at")
                return
            earliest = max(self.index.get(site.earliest_open_period or "", 0),
                           site.build_periods)
            if start < earliest:
                self.fail("build_lead_time", where, f"opens in {row.open_period}, before its"
                          " earliest possible period")
            if stop < start:
                self.fail("sites", where, f"closes in {row.close_period}, before it opens")
        for t in range(start, stop):
            self._operating[row.site, t] = tier

    # --- flows ------------------------------------------------------------------------------

    def check_sourcing(self) -> None:
        self.arrivals: dict[tuple[str, str, int, str], float] = defaultdict(float)
        self.bought: dict[tuple[str, int, str], float] = defaultdict(float)
        qualified = set(self.t["qualifications"].offer)
        for offer in qualified - set(self.offers):
            self.fail("references", f"qualifications {offer}", "unknown offer")
        for row in _records(self.t["sourcing"]):
            where = f"sourcing {row.offer}->{row.site} {row.period} {row.scenario}"
            offer = self.offers.get(row.offer)
            if offer is None or row.site not in self.sites:
                self.fail("references", where, "unknown offer or site")
                continue
            lane = self.lanes.get((offer.supplier, row.site))
            if lane is None:
                self.fail("lanes", where, "no lane from the supplier to the site")
                continue
            t = self.index[row.period]
            arrival = t + offer.lead_periods + lane[1]
            if self.index.get(row.arrival_period) != arrival:
                self.fail("lead_time", where, f"arrival {row.arrival_period} should be"
                          f" {self.periods[arrival] if arrival < len(self.periods) else 'beyond'}")
            if row.quantity < -ABSOLUTE_TOLERANCE:
                self.fail("signs", where, "negative quantity")
            if row.origin_country != self.origin_country(row.offer):
                self.fail("references", where, f"origin country {row.origin_country} is not the"
                          f" offer's {self.origin_country(row.offer)}")
            if (row.offer in self.needs_qualification and row.offer not in qualified
                    and row.quantity > ABSOLUTE_TOLERANCE):
                self.fail("qualification", where, "bought from an offer that is not qualified")
            self.arrivals[row.site, offer.component, arrival, row.scenario] += row.quantity
            self.bought[row.offer, t, row.scenario] += row.quantity
        for (o, t, s), quantity in self.bought.items():
            capacity = self.offer_capacity(o, t)
            if capacity is not None and quantity > capacity + ABSOLUTE_TOLERANCE + (
                    RELATIVE_TOLERANCE * capacity):
                self.fail("supplier_capacity", f"offer {o} {self.periods[t]} {s}",
                          f"buys {quantity:,.6g} > capacity {capacity:,.6g}")

    def _stocks(self) -> dict[tuple[str, str, str, int, str], float]:
        stock: dict[tuple[str, str, str, int, str], float] = defaultdict(float)
        for row in _records(self.t["inventory"]):
            if row.quantity < -ABSOLUTE_TOLERANCE:
                self.fail("signs", f"inventory {row.site} {row.item}", "negative stock")
            stock[row.kind, row.site, row.item, self.index[row.period], row.scenario] += (
                row.quantity)
        return stock

    def check_balances(self) -> None:
        stock = self._stocks()
        made: dict[tuple[str, str, int, str], float] = defaultdict(float)
        for row in _records(self.t["production"]):
            made[row.site, row.product, self.index[row.period], row.scenario] += row.quantity
        self.made = made
        shipped: dict[tuple[str, str, int, str], float] = defaultdict(float)
        for row in _records(self.t["shipments"]):
            shipped[row.site, row.product, self.index[row.period], row.scenario] += row.quantity
        used: dict[tuple[str, str, int, str], float] = defaultdict(float)
        for (k, p, t, s), quantity in made.items():
            for c, q in self.bom[p]:
                used[k, c, t, s] += q * quantity
        for s in self.scenarios:
            for k in self.sites:
                for c in self.components:
                    for t in range(len(self.periods)):
                        before = stock.get(("component", k, c, t - 1, s), 0.0)
                        inflow = self.arrivals.get((k, c, t, s), 0.0)
                        out = used.get((k, c, t, s), 0.0)
                        after = stock.get(("component", k, c, t, s), 0.0)
                        if not _close(before + inflow, out + after):
                            self.fail("component_balance", f"{k} {c} {self.periods[t]} {s}",
                                      f"{before:,.6g} held + {inflow:,.6g} arriving !="
                                      f" {out:,.6g} used + {after:,.6g} held")
                for p in self.products:
                    for t in range(len(self.periods)):
                        before = stock.get(("product", k, p, t - 1, s), 0.0)
                        make = made.get((k, p, t, s), 0.0)
                        out = shipped.get((k, p, t, s), 0.0)
                        after = stock.get(("product", k, p, t, s), 0.0)
                        if not _close(before + make, out + after):
                            self.fail("product_balance", f"{k} {p} {self.periods[t]} {s}",
                                      f"{before:,.6g} held + {make:,.6g} made !="
                                      f" {out:,.6g} shipped + {after:,.6g} held")

    def check_capacity(self) -> None:
        load: dict[tuple[str, int, str], float] = defaultdict(float)
        for (k, p, t, s), quantity in self.made.items():
            load[k, t, s] += self.products[p].assembly_hours * quantity
            if quantity > ABSOLUTE_TOLERANCE and self.operating_tier(k, t) is None:
                self.fail("site_operating", f"production {k} {p} {self.periods[t]} {s}",
                          "made at a site that is not operating")
        for (k, t, s), hours in load.items():
            tier = self.operating_tier(k, t)
            capacity = self.tiers[k, tier].capacity_hours if tier else 0.0
            if hours > capacity + ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * capacity:
                self.fail("site_capacity", f"{k} {self.periods[t]} {s}",
                          f"{hours:,.6g} assembly hours > capacity {capacity:,.6g}")

    def check_demand(self) -> None:
        served: dict[tuple[str, str, int, str], float] = defaultdict(float)
        sources: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row in _records(self.t["shipments"]):
            where = f"shipment {row.site}->{row.customer} {row.product} {row.period} {row.scenario}"
            lane = self.lanes.get((row.site, row.customer))
            t = self.index[row.period]
            if lane is None:
                self.fail("lanes", where, "no lane from the site to the customer")
                continue
            if self.index.get(row.arrival_period) != t + lane[1]:
                self.fail("transit", where, "arrival period does not match the lane's transit")
            if row.quantity > ABSOLUTE_TOLERANCE and self.operating_tier(row.site, t) is None:
                self.fail("site_operating", where, "shipped from a site that is not operating")
            served[row.customer, row.product, t + lane[1], row.scenario] += row.quantity
            if row.quantity > ABSOLUTE_TOLERANCE:
                sources[row.customer, row.product].add(row.site)
        unmet: dict[tuple[str, str, int, str], float] = defaultdict(float)
        for row in _records(self.t["unmet"]):
            unmet[row.customer, row.product, self.index[row.period], row.scenario] += row.quantity
        penalty = self.network.settings.unmet_penalty
        for key in set(self.demand) | set(served) | set(unmet):
            j, p, t, s = key
            demand = self.demand.get(key, 0.0)
            if not _close(served.get(key, 0.0) + unmet.get(key, 0.0), demand):
                self.fail("demand_service", f"{j} {p} {self.periods[t]} {s}",
                          f"{served.get(key, 0.0):,.6g} served + {unmet.get(key, 0.0):,.6g}"
                          f" unmet != demand {demand:,.6g}")
            if penalty is None and unmet.get(key, 0.0) > ABSOLUTE_TOLERANCE:
                self.fail("demand_service", f"{j} {p} {self.periods[t]} {s}",
                          "demand must be met in full (no unmet_penalty), yet some is unmet")
        for (j, p), found in sources.items():
            if self.customers[j].single_source and len(found) > 1:
                self.fail("single_sourcing", f"{j} {p}",
                          f"served from {len(found)} sites: {', '.join(sorted(found))}")

    def check_non_anticipativity(self) -> None:
        commit = self.network.settings.commit_periods
        if len(self.scenarios) < 2 or commit == 0:
            return
        tables = {"sourcing": ["offer", "site", "period"],
                  "production": ["site", "product", "period"],
                  "shipments": ["site", "customer", "product", "period"]}
        for name, keys in tables.items():
            frame = self.t[name]
            frame = frame[frame.period.map(self.index) < commit]
            quantities: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
            for row in frame[[*keys, "scenario", "quantity"]].itertuples(index=False, name=None):
                quantities[tuple(row[:-2])][row[-2]] = row[-1]
            for key, by_scenario in quantities.items():
                values = [by_scenario.get(s, 0.0) for s in self.scenarios]
                if max(values) - min(values) > ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * max(
                        values):
                    self.fail("non_anticipativity", f"{name} {' '.join(map(str, key))}",
                              f"committed quantity differs across scenarios: {values}")

    # --- policies ---------------------------------------------------------------------------

    def check_policies(self) -> None:
        sourcing = self.t["sourcing"]
        sourcing = sourcing[sourcing.offer.isin(self.offers)]
        sourcing = sourcing.assign(
            origin_country=sourcing.offer.map(self.origin_country),
            supplier=sourcing.offer.map({name: o.supplier for name, o in self.offers.items()}))
        qualified = [o for o in self.t["qualifications"].offer if o in self.offers]
        for number, policy in enumerate(self.network.policies, start=1):
            where = f"policies row {number} ({policy.policy})"
            if policy.policy == "max_open_sites":
                for t in range(len(self.periods)):
                    count = sum(1 for k in self.sites if self.operating_tier(k, t))
                    if count > policy.value:
                        self.fail("policy", where, f"{count} sites operate in {self.periods[t]}")
            elif policy.policy == "capex_budget":
                if self.capex() > policy.value * (1 + RELATIVE_TOLERANCE) + ABSOLUTE_TOLERANCE:
                    self.fail("policy", where, f"capex {self.capex():,.0f} over budget")
            elif policy.policy == "min_suppliers":
                components = self.components if policy.component == ANY else [policy.component]
                for c in components:
                    if not any(o.component == c for o in self.offers.values()):
                        continue
                    count = len({self.offers[o].supplier for o in qualified
                                 if self.offers[o].component == c})
                    if count < policy.value:
                        self.fail("policy", where, f"{count} suppliers qualified for {c}")
            elif policy.policy == "max_country_share":
                self._share_limit(policy, where, sourcing, "origin_country",
                                  lambda country: country)
            elif policy.policy == "max_supplier_share":
                self._share_limit(policy, where, sourcing, "supplier",
                                  lambda supplier: self.suppliers[supplier].country)
            elif policy.policy == "min_domestic_share":
                for s in self.scenarios:
                    mine = sourcing[sourcing.scenario == s]
                    if policy.component != ANY:
                        mine = mine[mine.component == policy.component]
                    home = mine.site.map(lambda k: self.sites[k].country) if (
                        policy.country == ANY) else policy.country
                    value = mine.quantity * mine.offer.map(lambda o: self.offers[o].unit_price)
                    domestic = float(value[mine.origin_country == home].sum())
                    total = float(value.sum())
                    if domestic < policy.value * total - ABSOLUTE_TOLERANCE * max(1.0, total):
                        self.fail("policy", where,
                                  f"domestic share {domestic / total:.4f} in {s}")

    def _share_limit(self, policy: Policy, where: str, sourcing: pd.DataFrame, source: str,
                     country_of: Callable[[str], str]) -> None:
        """A share policy: per component and scenario, the purchases from each source (the
        `source` column: origin country or supplier) of the policy's country are at most
        value x the component's purchases."""
        components = sorted({o.component for o in self.offers.values()}) if (
            policy.component == ANY) else [policy.component]
        for c in components:
            for s in self.scenarios:
                mine = sourcing[(sourcing.component == c) & (sourcing.scenario == s)]
                total = float(mine.quantity.sum())
                for name, quantity in mine.groupby(source).quantity.sum().items():
                    if policy.country not in (ANY, country_of(str(name))):
                        continue
                    if quantity > policy.value * total + ABSOLUTE_TOLERANCE * max(1.0, total):
                        self.fail("policy", where, f"{c} from {name} in {s}:"
                                  f" {quantity / total:.4f} of purchases")

    # --- costs ------------------------------------------------------------------------------

    def site_costs(self, row: Any) -> tuple[float, float]:
        """A site row's opening and closing costs: a site opened pays its tier's opening
        cost (also when a replan closes it later), a site closed its closing cost."""
        opened = self.sites[row.site].status == "candidate" and row.status in ("open",
                                                                               "closed")
        opening = self.tiers[row.site, str(row.tier)].opening_cost if opened else 0.0
        closing = self.sites[row.site].closing_cost if row.status == "closed" else 0.0
        return opening, closing

    def capex(self) -> float:
        total = 0.0
        for row in _records(self.t["sites"]):
            total += sum(self.site_costs(row))
        for row in _records(self.t["qualifications"]):
            if row.offer in self.offers:
                total += self.offers[row.offer].qualification_cost
        return total

    def check_costs(self) -> None:
        d = self.discount
        costs: dict[str, dict[str, float]] = {s: defaultdict(float) for s in self.scenarios}
        capex = {"opening": 0.0, "closing": 0.0, "qualification": 0.0}
        for row in _records(self.t["sites"]):
            opening, closing = self.site_costs(row)
            capex["opening"] += opening
            capex["closing"] += closing
        for row in _records(self.t["qualifications"]):
            if row.offer in self.offers:
                capex["qualification"] += self.offers[row.offer].qualification_cost
        fixed = sum(d[t] * self.tiers[k, tier].fixed_cost_per_period
                    for (k, t), tier in self._operating.items())
        for s in self.scenarios:
            costs[s].update(capex)
            costs[s]["fixed"] = fixed
        for row in _records(self.t["sourcing"]):
            offer = self.offers[row.offer]
            t, arrival = self.index[row.period], self.index.get(row.arrival_period, 0)
            lane_cost = self.lanes.get((offer.supplier, row.site), (0.0, 0))[0]
            rate = self.tariff_rate(row.scenario, offer.origin_country or
                                    self.suppliers[offer.supplier].country,
                                    self.sites[row.site].country,
                                    self.components[offer.component].tariff_class, arrival)
            nominal = {"purchase": row.quantity * offer.unit_price,
                       "transport": row.quantity * lane_cost,
                       "tariff": row.quantity * rate * offer.unit_price}
            for column, value in (("purchase_cost", nominal["purchase"]),
                                  ("transport_cost", nominal["transport"]),
                                  ("tariff_cost", nominal["tariff"])):
                if not _close(getattr(row, column), value):
                    self.fail("costs", f"sourcing {row.offer}->{row.site} {row.period}",
                              f"{column} {getattr(row, column):,.6g} should be {value:,.6g}")
            costs[row.scenario]["purchase"] += d[t] * nominal["purchase"]
            costs[row.scenario]["inbound_transport"] += d[t] * nominal["transport"]
            costs[row.scenario]["component_tariff"] += d[arrival] * nominal["tariff"]
        labour = {k: s.labour_cost_per_hour for k, s in self.sites.items()}
        unit_cost = {(c.site, c.product): c.cost_per_unit for c in self.network.production_costs}
        for (k, p, t, s), quantity in self.made.items():
            cost = unit_cost.get((k, p), labour[k] * self.products[p].assembly_hours)
            costs[s]["production"] += d[t] * cost * quantity
        for row in _records(self.t["shipments"]):
            t = self.index[row.period]
            arrival = self.index[row.arrival_period]
            product = self.products[row.product]
            rate = self.tariff_rate(row.scenario, self.sites[row.site].country,
                                    self.customers[row.customer].country, product.tariff_class,
                                    arrival)
            transport = row.quantity * self.lanes.get((row.site, row.customer), (0.0, 0))[0]
            tariff = row.quantity * rate * product.unit_value
            if not _close(row.transport_cost, transport) or not _close(row.tariff_cost, tariff):
                self.fail("costs", f"shipment {row.site}->{row.customer} {row.period}",
                          "transport or tariff cost does not match the lanes and tariffs")
            costs[row.scenario]["outbound_transport"] += d[t] * transport
            costs[row.scenario]["product_tariff"] += d[arrival] * tariff
        for row in _records(self.t["inventory"]):
            item = self.components.get(row.item) if row.kind == "component" else (
                self.products.get(row.item))
            holding = item.holding_cost_per_period if item is not None else 0.0
            costs[row.scenario]["holding"] += d[self.index[row.period]] * holding * row.quantity
        penalty = self.network.settings.unmet_penalty or 0.0
        for row in _records(self.t["unmet"]):
            costs[row.scenario]["unmet_penalty"] += d[self.index[row.period]] * penalty * (
                row.quantity)

        stated = self.t["costs"]
        stated_amounts = {(r.scenario, r.category): r.amount for r in _records(stated)}
        for s, categories in costs.items():
            for category, amount in categories.items():
                given = stated_amounts.get((s, category), 0.0)
                if not _close(given, amount, scale=max(abs(amount), 1.0)):
                    self.fail("costs", f"{s} {category}",
                              f"plan states {given:,.2f}, recomputed {amount:,.2f}")
        self.report.scenario_costs = {s: sum(c.values()) for s, c in costs.items()}

    def check_objective(self) -> None:
        totals = self.report.scenario_costs
        risk = self.network.settings.risk
        expected = sum(self.scenarios[s] * totals[s] for s in self.scenarios)
        if risk.measure == "expected" or risk.weight == 0:
            objective = expected
        elif risk.measure == "cvar":
            tail = min(eta + sum(p * max(totals[s] - eta, 0.0) for s, p in self.scenarios.items())
                       / (1 - risk.alpha) for eta in totals.values())
            objective = (1 - risk.weight) * expected + risk.weight * tail
        else:
            objective = (1 - risk.weight) * expected + risk.weight * max(totals.values())
        self.report.objective = objective
        if self.plan.objective is not None and not _close(self.plan.objective, objective):
            self.fail("objective", "summary", f"plan states {self.plan.objective:,.2f},"
                      f" recomputed {objective:,.2f}")

    def run(self) -> CheckReport:
        self.check_sites()
        self.check_sourcing()
        self.check_balances()
        self.check_capacity()
        self.check_demand()
        self.check_non_anticipativity()
        self.check_policies()
        self.check_costs()
        self.check_objective()
        return self.report


def check(network: Network, plan: Plan) -> CheckReport:
    """Every violated constraint and every mis-stated cost of `plan`, recomputed from
    `network`'s tables. A plan without a solution has nothing to check."""
    if not plan.has_solution:
        return CheckReport()
    return _Checker(network, plan).run()
