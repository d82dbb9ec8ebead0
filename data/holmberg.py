"""Holmberg, Rönnqvist and Yuan's single-source CFLP instances (p1..p71) as networks.

A file holds `m n`, m lines `capacity fixed_cost`, the n demands, then the m x n assignment
costs facility by facility (row i = facility i; `c_ij` is the cost of assigning ALL of j's
demand to i). Some files pad their end with NUL bytes, and p47 carries junk after its data:
exactly `2 + 2m + n + m*n` tokens are read and the rest is ignored.

The instance is the OR-Library mapping of `data.orlib` with every customer single-sourced
(`customers.single_source`): each customer is served by exactly one site.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from reshore.data.orlib import Cflp, cflp_network
from reshore.optimizer.schema import Network


def read_sscflp(path: str | Path) -> Cflp:
    """Read one Holmberg instance file into CFLP arrays."""
    path = Path(path)
    tokens = path.read_bytes().replace(b"\x00", b" ").decode("ascii").split()
    m, n = int(tokens[0]), int(tokens[1])
    needed = 2 * m + n + m * n
    values = np.asarray(tokens[2:2 + needed], dtype=float)
    if values.size != needed:
        raise ValueError(f"{path.name}: expected {needed} values after 'm n', "
                         f"found {values.size}")
    facilities = values[:2 * m].reshape(m, 2)
    demand = values[2 * m:2 * m + n].copy()
    costs = values[2 * m + n:].reshape(m, n).copy()
    return Cflp(name=path.name, capacity=facilities[:, 0].copy(),
                fixed_cost=facilities[:, 1].copy(), demand=demand, allocation_cost=costs)


def sscflp_network(cflp: Cflp) -> Network:
    """The instance as a network whose customers are all single-sourced."""
    return cflp_network(cflp, single_source=True)


def instance_files(folder: str | Path) -> list[Path]:
    """The instance files p1..p71 of a folder, in numeric order."""
    found = [p for p in Path(folder).iterdir() if re.fullmatch(r"p\d+", p.name)]
    return sorted(found, key=lambda p: int(p.name[1:]))
