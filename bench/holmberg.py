"""Holmberg et al. (1999) single-source CFLP instances through the product pipeline.

Every customer is single-sourced (`customers.single_source`), so each is served by exactly one
site: binary assignments. The published optima are deliberately not used: each instance is
solved to proven optimality (relative gap 0 by default) and the independent checker verifies
every plan. Printed per instance: objective, status, gap, and prepare, build, hand-off and
solve seconds.

Usage (from the repository root)::

    python bench/holmberg.py                              # p1..p71
    python bench/holmberg.py --instances p1 p25 p58       # some of them
    python bench/holmberg.py path/to/holmberg-sscflp --time-limit 300
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

from reshore.data.holmberg import instance_files, read_sscflp, sscflp_network
from reshore.optimizer.check import check
from reshore.optimizer.solve import SolveOptions, solve

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = ROOT.parent / "shared" / "benchmarks" / "holmberg-sscflp"


def warm_up() -> None:
    """Solve a two-site toy once so that first-call costs (imports, HiGHS start) are not
    charged to the first instance."""
    import numpy as np

    from reshore.data.orlib import Cflp

    toy = Cflp("toy", np.array([10.0, 10.0]), np.array([1.0, 2.0]), np.array([4.0, 5.0]),
               np.array([[1.0, 2.0], [2.0, 1.0]]))
    solve(sscflp_network(toy), SolveOptions(threads=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Holmberg SSCFLP instances through reshore")
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--instances", nargs="*", default=None, help="e.g. p1 p58")
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    files = instance_files(args.folder)
    if args.instances:
        files = [f for f in files if f.name in args.instances]
    options = SolveOptions(time_limit_s=args.time_limit, mip_gap=args.gap,
                           threads=args.threads, random_seed=0)
    warm_up()
    print(f"# Holmberg SSCFLP through reshore: gap {args.gap:g}, threads {args.threads},"
          f" time limit {args.time_limit:g} s")
    print(f"{'instance':<8} {'size':>7} {'objective':>10} {'status':<9} {'gap':>7}"
          f" {'prepare':>7} {'build':>6} {'handoff':>7} {'solve':>7} {'total':>7} check")
    totals: list[float] = []
    proven = 0
    for path in files:
        cflp = read_sscflp(path)
        network = sscflp_network(cflp)
        plan = solve(network, options)
        report = check(network, plan) if plan.has_solution else None
        t = plan.timings
        total = t.prepare + t.build + t.handoff + t.solve
        totals.append(total)
        proven += str(plan.status) == "optimal"
        objective = math.nan if plan.objective is None else float(plan.objective)
        gap = math.nan if plan.gap is None else plan.gap
        verdict = "-" if report is None else ("ok" if report.ok else "FAILED")
        print(f"{path.name:<8} {cflp.warehouses:>2}x{cflp.customers:<4} {objective:>10.1f}"
              f" {plan.status!s:<9} {gap:>7.1e} {t.prepare:>7.2f} {t.build:>6.2f}"
              f" {t.handoff:>7.2f} {t.solve:>7.2f} {total:>7.2f} {verdict}", flush=True)
    if totals:
        slowest = max(range(len(totals)), key=totals.__getitem__)
        print(f"\n{proven} of {len(files)} proved optimal; total {sum(totals):.1f} s, median"
              f" {statistics.median(totals):.2f} s, slowest {files[slowest].name}"
              f" {totals[slowest]:.1f} s")
    return 0 if proven == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())
