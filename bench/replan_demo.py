"""Rolling replans on the flagship: a first plan, then three new dataset versions (a demand
change, a tariff change, a supplier outage), each replanned against the plan before it one
period later, with the diff of each replan.

    python bench/replan_demo.py [--out plans/replan_demo] [--time-limit 60]

Each plan is written as `reshore solve` writes it (plus replan.json for the replans), so
`reshore diff` compares any two of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reshore.data import flagship_path
from reshore.optimizer.check import check
from reshore.optimizer.io import load_network
from reshore.optimizer.replan import ReplanOptions, replan
from reshore.optimizer.results import Plan
from reshore.optimizer.schema import Network, parse_network
from reshore.optimizer.solve import SolveOptions, solve

Change = Callable[[dict[str, Any], list[str], str], str]
"""Edits the tables of a version in place for a replan at `now`; returns what it changed."""


def demand_rise(tables: dict[str, Any], periods: list[str], now: str) -> str:
    """Every demand from `now` on rises by 20 %."""
    later = set(periods[periods.index(now):])
    for row in tables["demand"]:
        if row["period"] in later:
            row["quantity"] = round(row["quantity"] * 1.2)
    return f"demand from {now} on +20 %"


def tariff_rise(tables: dict[str, Any], periods: list[str], now: str) -> str:
    """Every component from Mexico pays a 25 % tariff into the US from `now` on."""
    tables["tariffs"].append({"scenario": "*", "origin_country": "MX",
                              "destination_country": "US", "tariff_class": "*",
                              "from_period": now, "rate": 0.25})
    return f"25 % tariff on everything from MX from {now}"


def supplier_outage(tables: dict[str, Any], periods: list[str], now: str) -> str:
    """Wistron Taiwan (compute trays) can deliver nothing any more."""
    for row in tables["offers"]:
        if row["offer"] == "ct_wistron_tw":
            row["capacity_per_period"] = 0
    return "supplier outage: ct_wistron_tw capacity 0"


VERSIONS: list[Change] = [demand_rise, tariff_rise, supplier_outage]


def _checked(network: Network, plan: Plan) -> None:
    report = check(network, plan)
    print("  independent check: " + ("passed" if report.ok else f"FAILED\n{report}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("plans/replan_demo"))
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--freeze", type=int, default=1)
    parser.add_argument("--change-penalty", type=float, default=200.0)
    args = parser.parse_args()
    options = SolveOptions(time_limit_s=args.time_limit, threads=1, random_seed=0)

    network = load_network(flagship_path())
    periods = list(network.settings.periods)
    print("version 1: the flagship as shipped; plain solve")
    plan = solve(network, options)
    _checked(network, plan)
    folder = plan.write(args.out / "v1")
    print(f"  {plan.status}, objective {plan.objective:,.0f} -> {folder}")

    tables = network.to_tables()
    for number, change in enumerate(VERSIONS, start=2):
        now = periods[number - 1]
        what = change(tables, periods, now)
        network = parse_network(tables)
        print(f"\nversion {number}: {what}; replan at {now}, freeze {args.freeze},"
              f" change penalty {args.change_penalty:g} per unit")
        result = replan(network, folder, ReplanOptions(
            now=now, freeze=args.freeze, change_penalty=args.change_penalty), options)
        _checked(network, result.plan)
        folder = result.write(args.out / f"v{number}")
        print(f"  {result.plan.status}, cost {result.plan.objective or 0:,.0f},"
              f" change penalties paid {result.change_penalty_paid or 0:,.0f}"
              f" -> {folder}")
        print(f"  warm start: {result.warm_start}")
        for forced in result.forced_changes[:5]:
            print(f"  forced: {forced}")
        if len(result.forced_changes) > 5:
            print(f"  ... {len(result.forced_changes) - 5} more forced changes")
        print("\n".join("  " + line for line in result.diff.format(rows_per_table=3)
                        .splitlines()))


if __name__ == "__main__":
    main()
