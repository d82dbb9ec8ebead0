"""Beasley's OR-Library capacitated facility location (CFLP) instances as networks.

A file holds `m n`, then m lines `capacity fixed_cost` (in capa, capb and capc the capacity
is the literal word `capacity`: the caller gives it), then for each customer its demand and
the m costs of allocating all of its demand to each warehouse. The published optima
(`capopt.txt`) are for the classical multi-source CFLP, which is exactly a single-period,
single-product, single-scenario network with an empty bill of materials:

* each warehouse is a candidate site with one tier: capacity_hours = capacity, opening_cost =
  fixed cost;
* one product of one assembly hour, every customer's demand in the one period;
* a lane site -> customer costs allocation cost / demand per unit;
* no unmet penalty: demand must be met.

`read_cflp` returns the raw arrays (used by the benchmark peers too); `cflp_network` turns
them into a validated `Network`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reshore.optimizer.schema import (
    Customer,
    Demand,
    Lane,
    Network,
    Product,
    Settings,
    Site,
    SiteTier,
)

LARGE_CAPACITIES: dict[str, tuple[float, ...]] = {
    "capa": (8000.0, 10000.0, 12000.0, 14000.0),
    "capb": (5000.0, 6000.0, 7000.0, 8000.0),
    "capc": (5000.0, 5750.0, 6500.0, 7250.0),
}
"""The four capacities at which OR-Library publishes an optimum for each large set."""

SMALL_NAMES: tuple[str, ...] = tuple(
    f"cap{group}{last}" for group in range(4, 14) for last in range(1, 5)
    if group != 5 or last == 1
)
"""The 37 small instances (16 to 50 warehouses x 50 customers)."""

PERIOD = "1"
PRODUCT = "unit"
TIER = "only"
COUNTRY = "US"


@dataclass(frozen=True)
class Cflp:
    """A CFLP: capacities s[i], fixed costs f[i], demands d[j] and allocation costs c[i, j]
    (the cost of serving ALL of customer j's demand from warehouse i)."""

    name: str
    capacity: np.ndarray
    fixed_cost: np.ndarray
    demand: np.ndarray
    allocation_cost: np.ndarray

    @property
    def warehouses(self) -> int:
        return len(self.fixed_cost)

    @property
    def customers(self) -> int:
        return len(self.demand)


def _tokens(path: Path) -> list[str]:
    return path.read_bytes().replace(b"\x00", b" ").decode("ascii").split()


def read_cflp(path: str | Path, capacity: float | None = None) -> Cflp:
    """Read an OR-Library `cap*` file. `capacity` replaces the literal word `capacity` of the
    large sets (required there) and is ignored where the file gives numbers."""
    path = Path(path)
    tokens = _tokens(path)
    m, n = int(tokens[0]), int(tokens[1])
    position = 2
    capacities = np.empty(m)
    fixed = np.empty(m)
    for i in range(m):
        word = tokens[position]
        if word == "capacity":
            if capacity is None:
                raise ValueError(f"{path.name}: the capacity is not in the file; give one")
            capacities[i] = capacity
        else:
            capacities[i] = float(word)
        fixed[i] = float(tokens[position + 1])
        position += 2
    body = np.asarray(tokens[position:position + n * (m + 1)], dtype=float)
    if body.size != n * (m + 1):
        raise ValueError(f"{path.name}: expected {n * (m + 1)} customer values, "
                         f"found {body.size}")
    rows = body.reshape(n, m + 1)
    given = capacity if "capacity" in tokens[2:2 + 2 * m] else None
    return Cflp(name=instance_key(path.stem, given),
                capacity=capacities, fixed_cost=fixed, demand=rows[:, 0].copy(),
                allocation_cost=np.ascontiguousarray(rows[:, 1:].T))


def cflp_network(cflp: Cflp, *, single_source: bool = False,
                 mip_gap: float | None = None) -> Network:
    """The CFLP as a network of the data contract (see the module docstring). With
    `single_source` every customer is served by exactly one warehouse (the SSCFLP)."""
    m, n = cflp.warehouses, cflp.customers
    sites = [f"w{i + 1}" for i in range(m)]
    customers = [f"c{j + 1}" for j in range(n)]
    served = cflp.demand > 0
    per_unit = np.divide(cflp.allocation_cost, cflp.demand, out=np.zeros_like(
        cflp.allocation_cost), where=served)
    solver = {} if mip_gap is None else {"mip_gap": mip_gap}
    return Network(
        settings=Settings.model_validate({"periods": [PERIOD], "solver": solver}),
        sites=[Site(site=k, country=COUNTRY) for k in sites],
        site_tiers=[SiteTier(site=k, tier=TIER, capacity_hours=float(cflp.capacity[i]),
                             opening_cost=float(cflp.fixed_cost[i]))
                    for i, k in enumerate(sites)],
        products=[Product(product=PRODUCT, assembly_hours=1.0)],
        customers=[Customer(customer=j, country=COUNTRY, single_source=single_source)
                   for j in customers],
        demand=[Demand(customer=j, product=PRODUCT, period=PERIOD,
                       quantity=float(cflp.demand[b]))
                for b, j in enumerate(customers)],
        lanes=[Lane(origin=sites[i], destination=customers[b],
                    cost_per_unit=float(per_unit[i, b]))
               for i in range(m) for b in range(n) if served[b]],
    )


def read_optima(path: str | Path) -> dict[str, float]:
    """Published optima from OR-Library's `capopt.txt`: {"cap41": ..., "capa-8000": ...}.

    The file's values are rounded to three decimals (its closing note says so)."""
    optima: dict[str, float] = {}
    current = ""
    pattern = re.compile(r"^(\S+)?\s+([0-9.]+)(?:\s+\(capacity\s+([0-9.]+)\))?\s*$")
    for line in Path(path).read_text().splitlines():
        match = pattern.match(line)
        if not match or line.startswith("Data file"):
            continue
        name, value, capacity = match.groups()
        if name:
            current = name
        key = current if capacity is None else f"{current}-{float(capacity):g}"
        optima[key] = float(value)
    return optima


def instance_names(capacities: bool = True) -> list[tuple[str, float | None]]:
    """Every (file stem, capacity) pair with a published optimum: the 37 small instances,
    then the 12 large ones."""
    small: list[tuple[str, float | None]] = [(name, None) for name in SMALL_NAMES]
    large: list[tuple[str, float | None]] = [
        (name, capacity) for name, values in LARGE_CAPACITIES.items() for capacity in values]
    return small + (large if capacities else [])


def instance_key(stem: str, capacity: float | None) -> str:
    """The key of an instance in `read_optima`'s answer."""
    return stem if capacity is None else f"{stem}-{capacity:g}"
