"""Shared helpers: every test that solves goes through `solve_checked`, which runs the
independent plan checker on the plan before handing it back."""

from __future__ import annotations

from typing import Any

from reshore.optimizer.check import check
from reshore.optimizer.results import Plan
from reshore.optimizer.schema import Network, parse_network
from reshore.optimizer.solve import SolveOptions, solve

EXACT = SolveOptions(mip_gap=1e-9, threads=1, random_seed=0)


def solve_checked(instance: dict[str, Any] | Network,
                  options: SolveOptions = EXACT) -> Plan:
    """Solve and assert the independent checker finds no violation."""
    network = instance if isinstance(instance, Network) else parse_network(instance)
    plan = solve(network, options)
    report = check(network, plan)
    assert report.ok, f"checker found violations:\n{report}"
    return plan
