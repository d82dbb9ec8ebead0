"""Seeded synthetic network-design instances of realistic shape, from tiny to over a million
variables.

An instance looks like the flagship case at a chosen scale: candidate and existing US assembly
sites with capacity tiers, rack-like products with bills of materials, component offers from
suppliers in several countries (prices, capacities, lead times, qualification costs), data
centre customers across the US with growing demand over the periods, allowed lanes (every
supplier to every site; each customer from its nearest sites), and tariff scenarios (calm,
escalation, truce) whose rates stack by origin, class and period.

`generate(size, seed)` is deterministic: the same size and seed give the same `Network`.
Sizes (`SIZES`): tiny (tests), S, M, L and XL (at least one million variables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reshore.optimizer.prepare import great_circle_km
from reshore.optimizer.schema import (
    BomLine,
    Component,
    Customer,
    Demand,
    Lane,
    Network,
    Offer,
    Policy,
    Product,
    Scenario,
    Settings,
    Site,
    SiteTier,
    Supplier,
    Tariff,
)


@dataclass(frozen=True)
class Shape:
    """How many of each thing an instance has."""

    sites: int
    existing_sites: int
    tiers: int
    products: int
    components: int
    components_per_product: int
    suppliers: int
    offers_per_component: int
    customers: int
    products_per_customer: int
    lanes_per_customer: int
    periods: int
    scenarios: int
    single_source_share: float = 0.05


SIZES: dict[str, Shape] = {
    "tiny": Shape(sites=3, existing_sites=1, tiers=2, products=2, components=3,
                  components_per_product=2, suppliers=3, offers_per_component=2, customers=4,
                  products_per_customer=2, lanes_per_customer=3, periods=2, scenarios=2,
                  single_source_share=0.25),
    "S": Shape(sites=8, existing_sites=2, tiers=2, products=3, components=8,
               components_per_product=3, suppliers=10, offers_per_component=3, customers=25,
               products_per_customer=2, lanes_per_customer=5, periods=4, scenarios=2),
    "M": Shape(sites=20, existing_sites=3, tiers=3, products=5, components=20,
               components_per_product=4, suppliers=30, offers_per_component=3, customers=80,
               products_per_customer=3, lanes_per_customer=8, periods=6, scenarios=3),
    "L": Shape(sites=40, existing_sites=4, tiers=3, products=8, components=40,
               components_per_product=5, suppliers=60, offers_per_component=4, customers=160,
               products_per_customer=4, lanes_per_customer=12, periods=8, scenarios=3),
    "XL": Shape(sites=60, existing_sites=5, tiers=3, products=10, components=60,
                components_per_product=6, suppliers=100, offers_per_component=4,
                customers=350, products_per_customer=5, lanes_per_customer=16, periods=12,
                scenarios=3),
}
"""The benchmark sizes; XL has more than a million variables."""

US_CITIES = [  # (name, lat, lon, labour cost per hour)
    ("Houston", 29.76, -95.37, 38.0), ("Phoenix", 33.45, -112.07, 39.0),
    ("Columbus", 39.96, -83.00, 37.0), ("Abilene", 32.45, -99.73, 33.0),
    ("Atlanta", 33.75, -84.39, 36.0), ("Reno", 39.53, -119.81, 41.0),
    ("Nashville", 36.16, -86.78, 35.0), ("Salt Lake City", 40.76, -111.89, 38.0),
    ("Raleigh", 35.78, -78.64, 37.0), ("Milwaukee", 43.04, -87.91, 40.0),
    ("Fort Worth", 32.76, -97.33, 36.0), ("Austin", 30.27, -97.74, 40.0),
    ("Richmond", 37.54, -77.44, 38.0), ("Des Moines", 41.59, -93.62, 36.0),
    ("Albuquerque", 35.08, -106.65, 35.0), ("Omaha", 41.26, -95.93, 35.0),
]
DATA_CENTRE_HUBS = [  # (lat, lon): campuses cluster around these
    (39.04, -77.49), (32.90, -97.04), (33.45, -112.07), (41.26, -95.93), (45.60, -121.18),
    (36.17, -115.14), (33.75, -84.39), (41.88, -87.63), (32.45, -99.73), (40.76, -111.89),
    (37.34, -121.89), (35.22, -80.84), (43.04, -87.91), (39.96, -83.00),
]
COUNTRIES = [  # (code, lat, lon, price factor, share of suppliers)
    ("TW", 24.8, 121.0, 0.85, 0.22), ("CN", 31.2, 121.5, 0.75, 0.20),
    ("MX", 25.7, -100.3, 0.95, 0.14), ("VN", 21.0, 105.8, 0.80, 0.10),
    ("KR", 37.5, 127.0, 0.92, 0.08), ("JP", 35.7, 139.7, 1.05, 0.06),
    ("MY", 3.1, 101.7, 0.85, 0.06), ("DE", 48.1, 11.6, 1.15, 0.04),
    ("US", 37.4, -122.0, 1.25, 0.10),
]
CLASSES = ["semis", "power", "optics", "cooling", "mechanical"]


def generate(size: str | Shape = "S", seed: int = 0) -> Network:
    """A synthetic instance of the given size (a key of `SIZES` or a `Shape`)."""
    shape = SIZES[size] if isinstance(size, str) else size
    rng = np.random.default_rng(seed)
    periods = [f"P{t + 1}" for t in range(shape.periods)]

    # --- sites and tiers ------------------------------------------------------------------
    cities = rng.integers(0, len(US_CITIES), shape.sites)
    site_lat = np.array([US_CITIES[c][1] for c in cities]) + rng.normal(0, 0.8, shape.sites)
    site_lon = np.array([US_CITIES[c][2] for c in cities]) + rng.normal(0, 0.8, shape.sites)
    labour = np.array([US_CITIES[c][3] for c in cities]) * rng.uniform(0.9, 1.1, shape.sites)
    site_ids = [f"site{k + 1:03d}" for k in range(shape.sites)]
    sites, tiers = [], []
    for k, site in enumerate(site_ids):
        existing = k < shape.existing_sites
        sites.append(Site(
            site=site, name=f"{US_CITIES[cities[k]][0]} {k + 1}", country="US",
            lat=float(np.clip(site_lat[k], -90, 90)), lon=float(site_lon[k]),
            status="existing" if existing else "candidate",
            build_periods=0 if existing else int(rng.integers(0, 2)),
            closing_cost=float(round(rng.uniform(2e6, 8e6), -3)) if existing else 0.0,
            labour_cost_per_hour=float(round(labour[k], 2))))
        base = rng.uniform(20_000, 60_000)  # assembly hours per period of the smallest tier
        for level in range(1 if existing else shape.tiers):
            hours = base * (1 + level) ** 1.4
            tiers.append(SiteTier(
                site=site, tier=f"T{level + 1}", capacity_hours=float(round(hours)),
                opening_cost=0.0 if existing else float(round(3e3 * hours ** 0.85, -3)),
                fixed_cost_per_period=float(round(12.0 * hours ** 0.9, -2))))

    # --- components, products and their bills of materials -------------------------------
    component_ids = [f"comp{c + 1:03d}" for c in range(shape.components)]
    component_class = [CLASSES[int(rng.integers(0, len(CLASSES)))] for _ in component_ids]
    list_price = np.round(rng.lognormal(6.0, 1.2, shape.components), 2)
    components = [Component(component=c, tariff_class=cls,
                            holding_cost_per_period=float(round(0.02 * p, 2)))
                  for c, cls, p in zip(component_ids, component_class, list_price, strict=True)]
    product_ids = [f"prod{p + 1:02d}" for p in range(shape.products)]
    products, bom = [], []
    for product in product_ids:
        parts = rng.choice(shape.components, size=min(shape.components_per_product,
                                                      shape.components), replace=False)
        quantity = rng.integers(1, 9, len(parts))
        value = float(sum(list_price[c] * q for c, q in zip(parts, quantity, strict=True)))
        products.append(Product(
            product=product, assembly_hours=float(round(rng.uniform(2, 20), 1)),
            unit_value=round(value * 1.6, 2), tariff_class="systems",
            holding_cost_per_period=round(0.02 * value, 2)))
        bom += [BomLine(product=product, component=component_ids[c], quantity=float(q))
                for c, q in zip(sorted(parts), quantity[np.argsort(parts)], strict=True)]

    # --- suppliers and offers -----------------------------------------------------------
    shares = np.array([c[4] for c in COUNTRIES])
    origin = rng.choice(len(COUNTRIES), size=shape.suppliers, p=shares / shares.sum())
    supplier_ids = [f"sup{s + 1:03d}" for s in range(shape.suppliers)]
    suppliers = [Supplier(supplier=s, country=COUNTRIES[o][0],
                          lat=float(COUNTRIES[o][1] + rng.normal(0, 1)),
                          lon=float(COUNTRIES[o][2] + rng.normal(0, 1)))
                 for s, o in zip(supplier_ids, origin, strict=True)]
    used = sorted({line.component for line in bom})
    need = _component_need(shape, bom)
    offers = []
    for c in used:
        index = component_ids.index(c)
        chosen = rng.choice(shape.suppliers, size=min(shape.offers_per_component,
                                                      shape.suppliers), replace=False)
        for rank, s in enumerate(chosen):
            country = COUNTRIES[origin[s]]
            limited = rank > 0 and rng.random() < 0.5
            offers.append(Offer(
                offer=f"{c}-{supplier_ids[s]}", supplier=supplier_ids[s], component=c,
                unit_price=float(round(list_price[index] * country[3]
                                       * rng.uniform(0.9, 1.1), 2)),
                capacity_per_period=float(round(need[c] * rng.uniform(0.3, 0.8)))
                if limited else None,
                lead_periods=0 if country[0] in ("US", "MX") else int(rng.integers(0, 2)),
                qualification_cost=float(round(rng.uniform(5e4, 5e5), -3))
                if rng.random() < 0.3 else 0.0))

    # --- customers and demand ----------------------------------------------------------
    hubs = rng.integers(0, len(DATA_CENTRE_HUBS), shape.customers)
    customer_ids = [f"dc{j + 1:04d}" for j in range(shape.customers)]
    customer_lat = np.array([DATA_CENTRE_HUBS[h][0] for h in hubs]) + rng.normal(
        0, 1.0, shape.customers)
    customer_lon = np.array([DATA_CENTRE_HUBS[h][1] for h in hubs]) + rng.normal(
        0, 1.0, shape.customers)
    single = rng.random(shape.customers) < shape.single_source_share
    customers = [Customer(customer=j, name=f"campus {j}", country="US",
                          lat=float(customer_lat[b]), lon=float(customer_lon[b]),
                          single_source=bool(single[b]))
                 for b, j in enumerate(customer_ids)]
    demand = []
    growth = 1.0 + rng.uniform(0.05, 0.25, shape.customers)
    for b, customer in enumerate(customer_ids):
        wanted = rng.choice(shape.products, size=min(shape.products_per_customer,
                                                     shape.products), replace=False)
        for p in sorted(wanted):
            base_units = rng.uniform(20, 200)
            for t, period in enumerate(periods):
                units = round(base_units * growth[b] ** t * rng.uniform(0.85, 1.15))
                demand.append(Demand(customer=customer, product=product_ids[p],
                                     period=period, quantity=float(units)))

    # --- lanes: every supplier to every site; each customer from its nearest sites ----------
    lanes = []
    supplier_lat = np.array([s.lat or 0.0 for s in suppliers])
    supplier_lon = np.array([s.lon or 0.0 for s in suppliers])
    km = great_circle_km(supplier_lat[:, None], supplier_lon[:, None], site_lat[None, :],
                         site_lon[None, :])
    for s, supplier in enumerate(supplier_ids):
        for k, site in enumerate(site_ids):
            overseas = km[s, k] > 3000
            lanes.append(Lane(origin=supplier, destination=site,
                              cost_per_unit=float(round(0.002 * km[s, k] + 2.0, 2)),
                              transit_periods=1 if overseas else 0))
    km = great_circle_km(site_lat[:, None], site_lon[:, None], customer_lat[None, :],
                         customer_lon[None, :])
    nearest = np.argsort(km, axis=0)[:min(shape.lanes_per_customer, shape.sites)]
    for b, customer in enumerate(customer_ids):
        for k in sorted(nearest[:, b]):
            lanes.append(Lane(origin=site_ids[k], destination=customer,
                              cost_per_unit=float(round(0.05 * km[k, b] + 25.0, 2))))

    # --- scenarios, tariffs and policies -------------------------------------------------
    scenarios = [Scenario(scenario="calm", probability=1.0, description="today's tariffs")]
    if shape.scenarios >= 2:
        weights = [0.5, 0.3, 0.2][:shape.scenarios]
        names = ["calm", "escalation", "truce"]
        described = ["today's tariffs", "tariffs escalate mid-horizon", "tariffs eased"]
        scenarios = [Scenario(scenario=names[i], probability=weights[i] / sum(weights),
                              description=described[i]) for i in range(shape.scenarios)]
    middle = periods[len(periods) // 2]
    tariffs = [
        Tariff(origin_country="CN", destination_country="US", rate=0.25),
        Tariff(origin_country="CN", destination_country="US", tariff_class="semis", rate=0.25),
        Tariff(origin_country="VN", destination_country="US", rate=0.10),
        Tariff(origin_country="TW", destination_country="US", rate=0.05),
    ]
    if shape.scenarios >= 2:
        tariffs += [
            Tariff(scenario="escalation", origin_country="CN", destination_country="US",
                   from_period=middle, rate=0.50),
            Tariff(scenario="escalation", origin_country="TW", destination_country="US",
                   tariff_class="semis", from_period=middle, rate=0.20),
            Tariff(scenario="escalation", origin_country="MX", destination_country="US",
                   from_period=middle, rate=0.15),
        ]
    policies = [Policy(policy="max_country_share", component="*", country="CN", value=0.6)]

    settings = Settings.model_validate({
        "periods": periods, "discount_rate": 0.02, "commit_periods": 1,
        "unmet_penalty": round(2.5 * max(p.unit_value for p in products), 2),
        "risk": {"measure": "cvar", "alpha": 0.8, "weight": 0.3} if shape.scenarios > 1
        else {},
    })
    return Network(settings=settings, sites=sites, site_tiers=tiers, products=products,
                   components=components, bom=bom, suppliers=suppliers, offers=offers,
                   customers=customers, demand=demand, lanes=lanes, scenarios=scenarios,
                   tariffs=tariffs, policies=policies)


def _component_need(shape: Shape, bom: list[BomLine]) -> dict[str, float]:
    """A rough per-period need of each component, to size offer capacities."""
    per_product = 110.0 * shape.customers * shape.products_per_customer / shape.products
    need: dict[str, float] = {}
    for line in bom:
        need[line.component] = need.get(line.component, 0.0) + line.quantity * per_product
    return need

