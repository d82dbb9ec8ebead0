"""Replan stability on the flagship: units moved and cost against a from-scratch solve, for
change penalties 0, a middle value and a large one, and the replan's solve time with and
without the warm start.

    python bench/replan_stability.py [--time-limit 60] [--now 2027Q3] [--freeze 1]

The previous plan is the flagship's plan; the new data raises every demand from `now` on by
15 %. "From scratch" is a plain solve of the new data with nothing fixed.
"""

from __future__ import annotations

import argparse
import time

from reshore.data import flagship_path
from reshore.optimizer.diff import diff_plans
from reshore.optimizer.io import load_network
from reshore.optimizer.replan import ReplanOptions, replan
from reshore.optimizer.schema import Network, parse_network
from reshore.optimizer.solve import SolveOptions, solve


def demand_rise(network: Network, now: str, factor: float) -> Network:
    """The network with every demand from `now` on multiplied by `factor`."""
    tables = network.to_tables()
    periods = list(network.settings.periods)
    later = set(periods[periods.index(now):])
    for row in tables["demand"]:
        if row["period"] in later:
            row["quantity"] = round(row["quantity"] * factor)
    return parse_network(tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--now", default="2027Q3")
    parser.add_argument("--freeze", type=int, default=1)
    parser.add_argument("--penalties", default="0,200,1000000",
                        help="change penalties per unit moved, comma-separated")
    args = parser.parse_args()
    options = SolveOptions(time_limit_s=args.time_limit, threads=1, random_seed=0)
    network = load_network(flagship_path())
    previous = solve(network, options)
    print(f"previous plan: {previous.status}, objective {previous.objective:,.0f}")
    changed = demand_rise(network, args.now, 1.15)
    scratch = solve(changed, options)
    moved = diff_plans(previous, scratch).units_moved
    print(f"from scratch: {scratch.status} (gap {100 * (scratch.gap or 0):.2f}%), objective"
          f" {scratch.objective:,.0f}, units moved {moved:,.0f},"
          f" solve {scratch.timings.solve:.1f} s")
    same = replan(network, previous, ReplanOptions(now=args.now, freeze=args.freeze,
                                                   change_penalty=1.0), options)
    print(f"unchanged data, penalty 1: {same.plan.status}, units moved"
          f" {same.diff.units_moved:,.0f}, cost {same.plan.objective or 0:,.0f},"
          f" warm start {same.warm_start[:40]}")
    print(f"{'penalty':>10} {'warm':>5} {'status':>9} {'gap':>6} {'cost':>16} {'vs scratch':>10}"
          f" {'units moved':>12} {'forced':>6} {'solve s':>8}  warm start")
    for penalty in (float(p) for p in args.penalties.split(",")):
        for warm in (True, False):
            started = time.perf_counter()
            result = replan(changed, previous, ReplanOptions(
                now=args.now, freeze=args.freeze, change_penalty=penalty, warm_start=warm),
                options)
            wall = time.perf_counter() - started
            cost = result.plan.objective or float("nan")
            ratio = cost / (scratch.objective or float("nan")) - 1
            print(f"{penalty:>10g} {warm!s:>5} {result.plan.status!s:>9}"
                  f" {100 * (result.plan.gap or 0):>5.2f}% {cost:>16,.0f}"
                  f" {100 * ratio:>9.2f}% {result.diff.units_moved:>12,.0f}"
                  f" {len(result.forced_changes):>6} {result.plan.timings.solve:>8.1f}"
                  f"  {result.warm_start[:60]} (wall {wall:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
