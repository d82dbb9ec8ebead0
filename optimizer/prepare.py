"""From a validated `Network` to the indexed frames the model is built from.

Everything the formulation needs is computed here once, with pandas merges and group-bys:
which decisions exist (sparse index sets), what each unit of each decision costs per scenario,
and the lookups that tie the families together (which purchases arrive where and when, which
shipments serve which demand). Model code reads these frames and never sees raw tables.

Periods are positions 0..T-1 in `settings.periods`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reshore.optimizer.schema import ANY, Network

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class PreparedNetwork:
    """The indexed frames of one instance (see the module docstring)."""

    network: Network
    periods: list[str]
    scenarios: list[str]
    probability: dict[str, float]
    discount: np.ndarray
    commit_periods: int
    unmet_penalty: float | None
    sites: pd.DataFrame
    """index site: country, status, first_period (first period it can operate), closing_cost."""
    tiers: pd.DataFrame
    """site, tier, capacity_hours, opening_cost, fixed_cost_per_period, status."""
    openings: pd.DataFrame
    """Possible starts of candidate sites: site, tier, period, opening_cost."""
    closings: pd.DataFrame
    """Possible closings: site, tier (the tier that stops), period, closing_cost (see
    `possible_closings`)."""
    operating: pd.DataFrame
    """(site, tier, period) at which a tier may be operating, with capacity and fixed cost."""
    products: pd.DataFrame
    components: pd.DataFrame
    bom: pd.DataFrame
    purchases: pd.DataFrame
    """Possible purchases: offer, site, period (ordered), arrival, component, supplier,
    origin_country, unit_price, transport_cost_per_unit."""
    purchase_tariffs: pd.DataFrame
    """offer, site, period, scenario, rate (at the arrival period), tariff_per_unit: one row
    per purchase and scenario, purchase after purchase (scenarios innermost)."""
    production: pd.DataFrame
    """Possible production: site, product, period, assembly_hours, cost_per_unit."""
    shipments: pd.DataFrame
    """Possible shipments: site, customer, product, period (departure), arrival,
    transport_cost_per_unit."""
    shipment_tariffs: pd.DataFrame
    """site, customer, product, period, scenario, rate, tariff_per_unit: one row per shipment
    and scenario, shipment after shipment (scenarios innermost)."""
    demand: pd.DataFrame
    """customer, product, period, scenario, quantity (every scenario spelt out)."""
    component_stock: pd.DataFrame
    """(site, component, period) where components may be held."""
    product_stock: pd.DataFrame
    """(site, product, period) where products may be held."""
    single_source: pd.DataFrame
    """(site, customer, product) assignments for single-sourced customers."""
    offers: pd.DataFrame
    """index offer: supplier, component, origin_country, capacity_per_period,
    qualification_cost, needs_qualification."""
    offer_capacity: dict[tuple[str, int], float]
    """(offer, order period) -> units the offer can deliver in that period, where limited
    (see `offer_capacity_by_period`); an absent pair is unlimited."""
    policies: pd.DataFrame
    money_unit: float
    """Currency units per model money unit (a power of ten): costs enter the model divided
    by it, keeping the cost rows' coefficients within what HiGHS's tolerances bear."""
    lookups: Lookups = field(repr=False)


@dataclass(frozen=True)
class Lookups:
    """Group-bys done once so that each constraint reads its terms by key."""

    arrivals: dict[tuple[str, str, int], list[tuple[str, int]]]
    """(site, component, arrival) -> [(offer, order period)]"""
    component_use: dict[str, list[tuple[str, float]]]
    """component -> [(product, quantity per unit)]"""
    departures: dict[tuple[str, str, int], list[tuple[str, int]]]
    """(site, product, period) -> [(customer, arrival)] shipments leaving"""
    deliveries: dict[tuple[str, str, int], list[tuple[str, int]]]
    """(customer, product, arrival) -> [(site, departure)] shipments arriving"""
    site_products: dict[tuple[str, int], list[str]]
    """(site, period) -> products that may be made"""
    offer_buyers: dict[tuple[str, int], list[str]]
    """(offer, period) -> sites that may buy from it"""
    site_tiers: dict[str, list[str]]
    demand: dict[tuple[str, str, int, str], float]
    """(customer, product, period, scenario) -> quantity"""
    shipment_arrival: dict[tuple[str, str, str, int], int]


def great_circle_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray,
                    lon2: np.ndarray) -> np.ndarray:
    """Haversine distance in km between arrays of points given in degrees."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = phi2 - phi1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1))))


def _frame(rows: list[object], columns: list[str]) -> pd.DataFrame:
    records = [row.model_dump() for row in rows]  # type: ignore[attr-defined]
    return pd.DataFrame(records, columns=columns)


def lane_table(network: Network) -> pd.DataFrame:
    """Allowed lanes with cost and transit: the lanes table, or every supplier -> site and
    site -> customer pair priced at great-circle km x transport_cost_per_unit_km."""
    columns = ["origin", "destination", "cost_per_unit", "transit_periods"]
    if network.lanes is not None:
        return _frame(list(network.lanes), columns)
    points = pd.concat([
        _frame(list(network.suppliers), ["supplier", "lat", "lon"]).rename(
            columns={"supplier": "id"}).assign(kind="supplier"),
        _frame(list(network.sites), ["site", "lat", "lon"]).rename(
            columns={"site": "id"}).assign(kind="site"),
        _frame(list(network.customers), ["customer", "lat", "lon"]).rename(
            columns={"customer": "id"}).assign(kind="customer"),
    ])
    origins = points[points.kind != "customer"]
    destinations = points[points.kind != "supplier"]
    pairs = origins.merge(destinations, how="cross", suffixes=("_o", "_d"))
    inbound = (pairs.kind_o == "supplier") & (pairs.kind_d == "site")
    outbound = (pairs.kind_o == "site") & (pairs.kind_d == "customer")
    pairs = pairs[inbound | outbound]
    km = great_circle_km(pairs.lat_o.to_numpy(float), pairs.lon_o.to_numpy(float),
                         pairs.lat_d.to_numpy(float), pairs.lon_d.to_numpy(float))
    return pd.DataFrame({
        "origin": pairs.id_o.to_numpy(),
        "destination": pairs.id_d.to_numpy(),
        "cost_per_unit": km * network.settings.transport_cost_per_unit_km,
        "transit_periods": 0,
    })


def tariff_rates(network: Network, keys: pd.DataFrame) -> np.ndarray:
    """Total ad valorem rate for each row of `keys` (scenario, origin_country,
    destination_country, tariff_class, period): every matching tariff row adds up ('*' matches
    any value), and only goods that cross a border pay."""
    index = {label: i for i, label in enumerate(network.settings.periods)}
    rates = np.zeros(len(keys))
    if keys.empty:
        return rates
    scenario = keys.scenario.to_numpy()
    origin = keys.origin_country.to_numpy()
    destination = keys.destination_country.to_numpy()
    tariff_class = keys.tariff_class.to_numpy()
    period = keys.period.to_numpy()
    for row in network.tariffs:
        match = np.ones(len(keys), dtype=bool)
        if row.origin_country != ANY:
            match &= origin == row.origin_country
        if row.destination_country != ANY:
            match &= destination == row.destination_country
        if row.scenario != ANY:
            match &= scenario == row.scenario
        if row.tariff_class != ANY:
            match &= tariff_class == row.tariff_class
        if row.from_period is not None:
            match &= period >= index[row.from_period]
        rates[match] += row.rate
    rates[origin == destination] = 0.0
    return rates


def _with_scenarios(frame: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    return frame.merge(pd.DataFrame({"scenario": scenarios}), how="cross")


def _expand_demand(network: Network, scenarios: list[str]) -> pd.DataFrame:
    """Demand per scenario: a row for scenario s overrides the '*' row of the same key."""
    index = {label: i for i, label in enumerate(network.settings.periods)}
    raw = _frame(list(network.demand), ["customer", "product", "period", "quantity", "scenario"])
    raw["period"] = raw.period.map(index).astype(int)
    general = _with_scenarios(raw[raw.scenario == ANY].drop(columns="scenario"), scenarios)
    specific = raw[raw.scenario != ANY]
    demand = pd.concat([specific, general]).drop_duplicates(
        ["customer", "product", "period", "scenario"], keep="first")
    demand = demand[demand.quantity > 0]
    return demand.sort_values(["customer", "product", "period", "scenario"]).reset_index(drop=True)


def prepare(network: Network, closable: Mapping[str, str] | None = None) -> PreparedNetwork:
    """Index every decision of the network design model and price it per scenario.

    `closable` names candidate sites that may close, each at the tier it opens at (a
    replan's sites opened or under construction, see `possible_closings`)."""
    settings = network.settings
    periods = list(settings.periods)
    horizon = len(periods)
    index = {label: i for i, label in enumerate(periods)}
    scenarios = [s.scenario for s in network.scenarios]
    probability = {s.scenario: s.probability for s in network.scenarios}
    discount = (1.0 + settings.discount_rate) ** -np.arange(horizon, dtype=float)

    # --- sites and tiers: when each site can first operate --------------------------------
    sites = _frame(list(network.sites), ["site", "country", "status", "earliest_open_period",
                                         "build_periods", "closing_cost",
                                         "labour_cost_per_hour"]).set_index("site")
    earliest = sites.earliest_open_period.map(lambda p: index.get(p, 0) if p else 0)
    sites["first_period"] = np.where(sites.status == "existing", 0,
                                     np.maximum(earliest.astype(int), sites.build_periods))
    sites = sites[sites.first_period < horizon]
    tiers = _frame(list(network.site_tiers), ["site", "tier", "capacity_hours", "opening_cost",
                                              "fixed_cost_per_period"])
    tiers = tiers[tiers.site.isin(sites.index)].merge(
        sites[["status", "first_period"]], left_on="site", right_index=True).reset_index(
        drop=True)
    all_periods = pd.DataFrame({"period": np.arange(horizon)})
    operating = tiers.merge(all_periods, how="cross")
    operating = operating[operating.period >= operating.first_period].reset_index(drop=True)
    openings = operating.loc[operating.status == "candidate",
                             ["site", "tier", "period", "opening_cost"]].reset_index(drop=True)
    closings = possible_closings(sites, tiers, horizon, closable or {})

    # --- items -----------------------------------------------------------------------------
    products = _frame(list(network.products), ["product", "assembly_hours", "unit_value",
                                               "tariff_class", "holding_cost_per_period"])
    components = _frame(list(network.components), ["component", "tariff_class",
                                                   "holding_cost_per_period"])
    bom = _frame(list(network.bom), ["product", "component", "quantity"])
    used_components = set(bom.component)

    # --- production: every site that can operate may make every product -------------------
    site_periods = sites[["first_period"]].reset_index().merge(all_periods, how="cross")
    site_periods = site_periods[site_periods.period >= site_periods.first_period]
    production = site_periods[["site", "period"]].merge(products[["product", "assembly_hours"]],
                                                        how="cross")
    default_cost = production.site.map(sites.labour_cost_per_hour) * production.assembly_hours
    given = _frame(list(network.production_costs), ["site", "product", "cost_per_unit"])
    production = production.merge(given, on=["site", "product"], how="left")
    production["cost_per_unit"] = production.cost_per_unit.fillna(default_cost).astype(float)
    production = production.sort_values(["site", "product", "period"]).reset_index(drop=True)

    lanes = lane_table(network)

    # --- purchases: offer x inbound lane x order period, arriving within the horizon -------
    suppliers = _frame(list(network.suppliers), ["supplier", "country"]).set_index("supplier")
    offers = _frame(list(network.offers), ["offer", "supplier", "component", "origin_country",
                                           "unit_price", "capacity_per_period",
                                           "lead_periods", "qualification_cost"])
    offers["origin_country"] = offers.origin_country.fillna(offers.supplier.map(suppliers.country))
    offers = offers[offers.component.isin(used_components)]
    min_supplier_components = _policy_components(network, "min_suppliers", components)
    offers["needs_qualification"] = (offers.qualification_cost > 0) | offers.component.isin(
        min_supplier_components)
    purchases = offers.merge(lanes, left_on="supplier", right_on="origin").rename(
        columns={"destination": "site", "cost_per_unit": "transport_cost_per_unit"})
    purchases = purchases[purchases.site.isin(sites.index)].merge(all_periods, how="cross")
    purchases["arrival"] = purchases.period + purchases.lead_periods + purchases.transit_periods
    purchases = purchases[(purchases.arrival < horizon)
                          & (purchases.arrival >= purchases.site.map(sites.first_period))]
    purchases = purchases[["offer", "site", "period", "arrival", "component", "supplier",
                           "origin_country", "unit_price", "transport_cost_per_unit"]]
    purchases = purchases.sort_values(["offer", "site", "period"]).reset_index(drop=True)

    component_class = components.set_index("component").tariff_class
    keys = _with_scenarios(purchases[["offer", "site", "period", "arrival", "origin_country",
                                      "component", "unit_price"]], scenarios)
    keys["destination_country"] = keys.site.map(sites.country)
    keys["tariff_class"] = keys.component.map(component_class)
    rates = tariff_rates(network, keys.assign(period=keys.arrival))
    purchase_tariffs = keys[["offer", "site", "period", "scenario"]].assign(
        rate=rates, tariff_per_unit=rates * keys.unit_price.to_numpy())

    # --- demand and shipments -------------------------------------------------------------
    demand = _expand_demand(network, scenarios)
    demanded = demand[["customer", "product", "period"]].drop_duplicates().rename(
        columns={"period": "arrival"})
    customers = _frame(list(network.customers), ["customer", "country", "single_source"])
    outbound = lanes[lanes.origin.isin(sites.index)
                     & lanes.destination.isin(customers.customer)].rename(
        columns={"origin": "site", "destination": "customer",
                 "cost_per_unit": "transport_cost_per_unit"})
    shipments = outbound.merge(demanded, on="customer")
    shipments["period"] = shipments.arrival - shipments.transit_periods
    shipments = shipments[shipments.period >= shipments.site.map(sites.first_period)]
    shipments = shipments[["site", "customer", "product", "period", "arrival",
                           "transport_cost_per_unit"]]
    shipments = shipments.sort_values(["site", "customer", "product", "period"]).reset_index(
        drop=True)

    product_info = products.set_index("product")
    keys = _with_scenarios(shipments[["site", "customer", "product", "period", "arrival"]],
                           scenarios)
    keys["origin_country"] = keys.site.map(sites.country)
    keys["destination_country"] = keys.customer.map(customers.set_index("customer").country)
    keys["tariff_class"] = keys["product"].map(product_info.tariff_class)
    rates = tariff_rates(network, keys.assign(period=keys.arrival))
    unit_value = keys["product"].map(product_info.unit_value).to_numpy(float)
    shipment_tariffs = keys[["site", "customer", "product", "period", "scenario"]].assign(
        rate=rates, tariff_per_unit=rates * unit_value)

    single = customers[customers.single_source].customer
    single_source = shipments.loc[shipments.customer.isin(single),
                                  ["site", "customer", "product"]].drop_duplicates()

    # --- stocks ----------------------------------------------------------------------------
    component_stock = site_periods[["site", "period"]].merge(
        pd.DataFrame({"component": sorted(used_components)}), how="cross")
    product_stock = site_periods[["site", "period"]].merge(products[["product"]], how="cross")

    offer_frame = offers.set_index("offer")[["supplier", "component", "origin_country",
                                             "capacity_per_period", "qualification_cost",
                                             "needs_qualification"]]
    policies = _frame(list(network.policies), ["policy", "component", "country", "value"])

    lookups = _lookups(purchases, bom, shipments, production, tiers, demand)
    figures = money_figures(
        once=[tiers.opening_cost, sites.closing_cost, offers.qualification_cost],
        per_period=[tiers.fixed_cost_per_period, purchases.unit_price,
                    purchases.transport_cost_per_unit, purchase_tariffs.tariff_per_unit,
                    production.cost_per_unit, shipments.transport_cost_per_unit,
                    shipment_tariffs.tariff_per_unit, components.holding_cost_per_period,
                    products.holding_cost_per_period, [settings.unmet_penalty or 0.0]],
        discount=discount)
    return PreparedNetwork(
        network=network, periods=periods, scenarios=scenarios, probability=probability,
        discount=discount, commit_periods=settings.commit_periods,
        unmet_penalty=settings.unmet_penalty, sites=sites, tiers=tiers, openings=openings,
        closings=closings, operating=operating, products=products, components=components,
        bom=bom, purchases=purchases, purchase_tariffs=purchase_tariffs,
        production=production, shipments=shipments, shipment_tariffs=shipment_tariffs,
        demand=demand, component_stock=component_stock, product_stock=product_stock,
        single_source=single_source, offers=offer_frame,
        offer_capacity=offer_capacity_by_period(network, set(offer_frame.index)),
        policies=policies,
        money_unit=money_unit(figures), lookups=lookups)


SMALLEST_SCALED_COST = 1e-7
"""The smallest a cost may become in money units: a hundred times HiGHS's
`small_matrix_value` (1e-9), below which HiGHS drops a coefficient as if it were zero."""

NEGLIGIBLE_COST_RATIO = 1e-16
"""Costs smaller than this share of the largest one (double precision's resolution) do not
steer the choice of the money unit."""


def money_figures(once: list[Any], per_period: list[Any], discount: np.ndarray) -> np.ndarray:
    """Every money figure that can become a coefficient of the model: the one-time ones as
    they are, the per-period ones at the largest and the smallest discount factor."""
    def values(columns: list[Any]) -> np.ndarray:
        arrays = [np.asarray(column, dtype=float).ravel() for column in columns]
        return np.concatenate(arrays) if arrays else np.zeros(0)

    rates = values(per_period)
    factors = np.asarray(discount, dtype=float)
    extremes = [factors.min(), factors.max()] if factors.size else [1.0]
    return np.concatenate([values(once), *(rates * f for f in extremes)])


def money_unit(figures: np.ndarray) -> float:
    """The power of ten money is counted in inside the model: the one that brings the largest
    figure down to the thousands (never below 1), unless that would bring the smallest below
    `SMALLEST_SCALED_COST`; then the one in the geometric middle of the largest and the
    smallest, so that both stay as far from 1 (an opening cost of 1e12 beside a lane cost of
    1 gives 1e6: coefficients from 1e-6 to 1e6, where the thousands rule would have given
    1e9 and a lane cost of 1e-9 that HiGHS drops). See docs/formulation.md, "Scaling"."""
    magnitudes = np.abs(figures[np.isfinite(figures)])
    magnitudes = magnitudes[magnitudes > 0]
    if magnitudes.size == 0:
        return 1.0
    largest = float(magnitudes.max())
    smallest = max(float(magnitudes.min()), largest * NEGLIGIBLE_COST_RATIO)
    exponent = max(0, int(np.floor(np.log10(largest))) - 3)
    if smallest / 10.0 ** exponent < SMALLEST_SCALED_COST:
        exponent = int(np.round(np.log10(largest * smallest) / 2))
    return float(10.0 ** exponent)
def possible_closings(sites: pd.DataFrame, tiers: pd.DataFrame, horizon: int,
                      closable: Mapping[str, str]) -> pd.DataFrame:
    """The closings the model may choose: an existing site (at its one tier) in any period,
    and a `closable` candidate site (site -> the tier it opens at) in any period from its
    first possible one; site, tier, period, closing_cost."""
    stopping = dict(zip(tiers.site[tiers.status == "existing"],
                        tiers.tier[tiers.status == "existing"], strict=True))
    offered = set(zip(tiers.site, tiers.tier, strict=True))
    stopping.update({k: tier for k, tier in closable.items() if (k, tier) in offered})
    frame = pd.DataFrame([(k, stopping[k]) for k in sites.index if k in stopping],
                         columns=["site", "tier"])
    frame = frame.merge(sites[["closing_cost", "first_period"]], left_on="site",
                        right_index=True).merge(
        pd.DataFrame({"period": np.arange(horizon)}), how="cross")
    frame = frame[frame.period >= frame.first_period]
    return frame[["site", "tier", "period", "closing_cost"]].reset_index(drop=True)


def offer_capacity_by_period(network: Network, offers: set[str]) -> dict[tuple[str, int],
                                                                          float]:
    """(offer, order period) -> the offer's capacity in that period, for the `offers` and
    periods where it is limited: the offer_capacities row of the offer with the latest
    from_period at or before the period, else the offer's capacity_per_period (absent:
    unlimited)."""
    index = {label: i for i, label in enumerate(network.settings.periods)}
    steps: dict[str, dict[int, float]] = defaultdict(dict)
    for row in network.offer_capacities:
        steps[row.offer][index[row.from_period]] = row.capacity_per_period
    capacity: dict[tuple[str, int], float] = {}
    for offer in network.offers:
        if offer.offer not in offers:
            continue
        current = offer.capacity_per_period
        for t in range(len(index)):
            current = steps[offer.offer].get(t, current)
            if current is not None:
                capacity[offer.offer, t] = float(current)
    return capacity



def _policy_components(network: Network, name: str, components: pd.DataFrame) -> set[str]:
    found: set[str] = set()
    for policy in network.policies:
        if policy.policy == name:
            found |= set(components.component) if policy.component == ANY else {policy.component}
    return found


def _group(frame: pd.DataFrame, key: list[str], value: list[str]) -> dict[Any, list[Any]]:
    """Rows of `frame` grouped by `key` columns: {key tuple: [value tuples]}, in row order."""
    grouped: dict[Any, list[Any]] = defaultdict(list)
    width = len(key)
    for row in _tuples(frame, key + value):
        grouped[row[:width]].append(row[width:])
    return dict(grouped)


def _tuples(frame: pd.DataFrame, columns: list[str]) -> Any:
    """Rows of `frame[columns]` as plain tuples: zipped column lists, much faster than
    `itertuples` on pandas' string columns."""
    return zip(*(frame[column].tolist() for column in columns), strict=True)


def _singles(grouped: dict[Any, list[Any]]) -> dict[Any, list[Any]]:
    """Unwrap one-column keys and values: {(k,): [(v,)]} -> {k: [v]}."""
    return {
        (key[0] if len(key) == 1 else key): [v[0] if len(v) == 1 else v for v in values]
        for key, values in grouped.items()
    }


def _lookups(purchases: pd.DataFrame, bom: pd.DataFrame, shipments: pd.DataFrame,
             production: pd.DataFrame, tiers: pd.DataFrame, demand: pd.DataFrame) -> Lookups:
    demand_keys = ["customer", "product", "period", "scenario"]
    shipment_keys = ["site", "customer", "product", "period"]
    return Lookups(
        arrivals=_group(purchases, ["site", "component", "arrival"], ["offer", "period"]),
        component_use=_singles(_group(bom, ["component"], ["product", "quantity"])),
        departures=_group(shipments, ["site", "product", "period"], ["customer", "arrival"]),
        deliveries=_group(shipments, ["customer", "product", "arrival"], ["site", "period"]),
        site_products=_singles(_group(production, ["site", "period"], ["product"])),
        offer_buyers=_singles(_group(purchases, ["offer", "period"], ["site"])),
        site_tiers=_singles(_group(tiers, ["site"], ["tier"])),
        demand=dict(zip(_tuples(demand, demand_keys), demand.quantity.tolist(), strict=True)),
        shipment_arrival=dict(zip(_tuples(shipments, shipment_keys),
                                  shipments.arrival.tolist(), strict=True)),
    )
