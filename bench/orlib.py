"""OR-Library CFLP instances through the product pipeline, against the published optima.

Every instance goes the way a user's input goes: contract (`data.orlib.cflp_network`) ->
prepare -> Pyomo model -> HiGHS -> Plan -> independent checker. Printed per instance: our
objective, the published optimum (`capopt.txt`, rounded to three decimals by OR-Library),
the relative difference, status, gap, and the prepare, build, hand-off and solve seconds.

Usage (from the repository root)::

    python bench/orlib.py                               # the 37 small instances
    python bench/orlib.py --large --time-limit 900      # capa/b/c at their four capacities
    python bench/orlib.py --instances cap41 capc-7250   # some of them
    python bench/orlib.py path/to/orlib-cap             # another copy of the files
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from reshore.data.orlib import cflp_network, instance_key, instance_names, read_cflp, read_optima
from reshore.optimizer.check import check
from reshore.optimizer.solve import SolveOptions, solve

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = ROOT.parent / "shared" / "benchmarks" / "orlib-cap"
TOLERANCE = 1e-6


def warm_up() -> None:
    """Solve a two-site toy once so that first-call costs (imports, HiGHS start) are not
    charged to the first instance."""
    import numpy as np

    from reshore.data.orlib import Cflp

    toy = Cflp("toy", np.array([10.0, 10.0]), np.array([1.0, 2.0]), np.array([4.0, 5.0]),
               np.array([[1.0, 2.0], [2.0, 1.0]]))
    solve(cflp_network(toy), SolveOptions(threads=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OR-Library CFLP optima through reshore")
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER,
                        help="folder of the cap*.txt files and capopt.txt")
    parser.add_argument("--instances", nargs="*", default=None,
                        help="e.g. cap41 capa-8000 (default: the 37 small ones)")
    parser.add_argument("--large", action="store_true", help="the 12 large instances")
    parser.add_argument("--all", action="store_true", help="small and large")
    parser.add_argument("--time-limit", type=float, default=900.0)
    parser.add_argument("--gap", type=float, default=1e-6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    optima = read_optima(args.folder / "capopt.txt")
    every = instance_names()
    if args.instances:
        chosen = [pair for pair in every if instance_key(*pair) in args.instances]
    elif args.all:
        chosen = every
    elif args.large:
        chosen = [pair for pair in every if pair[1] is not None]
    else:
        chosen = [pair for pair in every if pair[1] is None]
    options = SolveOptions(time_limit_s=args.time_limit, mip_gap=args.gap,
                           threads=args.threads, random_seed=0)
    warm_up()
    print(f"# OR-Library CFLP through reshore: gap {args.gap:g}, threads {args.threads},"
          f" time limit {args.time_limit:g} s")
    print(f"{'instance':<11} {'size':>9} {'objective':>15} {'published':>15} {'rel.diff':>8}"
          f" {'status':<9} {'gap':>7} {'read':>6} {'prepare':>7} {'build':>6} {'handoff':>7}"
          f" {'solve':>8} {'b+h %':>5} check")
    matched = proven = 0
    for stem, capacity in chosen:
        key = instance_key(stem, capacity)
        started = time.perf_counter()
        cflp = read_cflp(args.folder / f"{stem}.txt", capacity)
        network = cflp_network(cflp)
        read_s = time.perf_counter() - started
        plan = solve(network, options)
        report = check(network, plan) if plan.has_solution else None
        best = optima[key]
        objective = math.nan if plan.objective is None else float(plan.objective)
        diff = abs(objective - best) / best
        t = plan.timings
        whole = t.prepare + t.build + t.handoff + t.solve
        share = 100 * (t.build + t.handoff) / whole
        gap = math.nan if plan.gap is None else plan.gap
        matched += diff <= TOLERANCE
        proven += str(plan.status) == "optimal"
        verdict = "-" if report is None else ("ok" if report.ok else "FAILED")
        print(f"{key:<11} {cflp.warehouses:>3}x{cflp.customers:<5} {objective:>15.3f}"
              f" {best:>15.3f} {diff:>8.1e} {plan.status!s:<9} {gap:>7.1e} {read_s:>6.2f}"
              f" {t.prepare:>7.2f} {t.build:>6.2f} {t.handoff:>7.2f} {t.solve:>8.2f}"
              f" {share:>5.1f} {verdict}", flush=True)
    print(f"\n{matched} of {len(chosen)} within {TOLERANCE:g} of the published optimum;"
          f" {proven} proved optimal")
    return 0 if matched == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
