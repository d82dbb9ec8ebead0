"""The LP relaxation of a synthetic size: the whole model's against one scenario at a time
(`optimizer.solve.by_scenario`), on one thread and spread over threads.

Per size, seed and way (each in a child process of its own, one after the other): the
seconds to build and hand off the whole model, the seconds of the relaxation (for the ways
by scenario this includes preparing, building and handing off each scenario alone), its
bound in currency, how far below the whole relaxation's bound it is (when that one was
solved), the process's CPU seconds and peak memory. The LPs are solved as the solve path
solves them: rows equilibrated, interior point without crossover, one HiGHS thread each.

Ways: `whole` (the whole model's relaxation), `scenarios` (one scenario after the other),
`scenarios-2` (the scenarios on two threads).

Usage (from the repository root)::

    nice -n 5 python bench/relaxation.py --sizes M L --seeds 0 1 --time-limit 900
    nice -n 5 python bench/relaxation.py --sizes XL --ways scenarios scenarios-2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WAYS = {"whole": 0, "scenarios": 1, "scenarios-2": 2}


def measure(size: str, seed: int, way: str, time_limit: float) -> dict[str, Any]:
    """One relaxation of one instance in this process."""
    import numpy as np

    from reshore.data.synthetic import generate
    from reshore.models import network_design
    from reshore.optimizer.heuristics import family_columns, solve_relaxation
    from reshore.optimizer.prepare import prepare
    from reshore.optimizer.solve import to_highs_lp
    from reshore.optimizer.solve.by_scenario import relaxation_by_scenario
    from reshore.optimizer.solve.handoff import LpArrays
    from reshore.optimizer.solve.progress import Deadline

    network = generate(size, seed)
    started = time.perf_counter()
    data = prepare(network)
    built = network_design.build(data)
    handoff = to_highs_lp(built)
    build_s = time.perf_counter() - started
    deadline = Deadline(time_limit)

    def solve_lp(arrays: LpArrays, stop: Callable[[], bool] | None = None
                 ) -> tuple[float, np.ndarray | None]:
        left = time_limit - (time.perf_counter() - deadline.started)
        return solve_relaxation(arrays, time_limit=left, options={"threads": 1},
                                stop=stop or deadline.reached)

    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    log: list[str] = []
    if WAYS[way] == 0:
        bound, x = solve_lp(handoff.arrays.rows_equilibrated())
    else:
        bound, x = relaxation_by_scenario(
            network, built, family_columns(built, handoff.columns), handoff.lp.num_col_,
            data.money_unit, solve_lp=solve_lp, stop=deadline.reached, deadline=deadline,
            log=log, workers=WAYS[way])
    return {"size": size, "seed": seed, "way": way, "columns": handoff.lp.num_col_,
            "build_s": build_s, "seconds": time.perf_counter() - started,
            "cpu_s": _cpu_seconds() - cpu_before,
            "bound": float(bound * data.money_unit) if x is not None else None,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "log": log}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the whole relaxation against one scenario"
                                                 " at a time")
    parser.add_argument("--sizes", nargs="*", default=["M"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--ways", nargs="*", default=list(WAYS), choices=list(WAYS))
    parser.add_argument("--time-limit", type=float, default=900.0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        size, seed, way = args.child
        print(json.dumps(measure(size, int(seed), way, args.time_limit)))
        return 0

    print(f"# relaxation: time limit {args.time_limit:g} s per relaxation; one HiGHS thread"
          " per LP; each run in its own process")
    print(f"{'size':<4} {'seed':>4} {'way':<12} {'columns':>9} {'build s':>8} {'seconds':>8}"
          f" {'cpu s':>7} {'bound':>18} {'below whole':>11} {'peak MB':>8}  load before/after")
    for size in args.sizes:
        for seed in args.seeds:
            whole: float | None = None
            for way in args.ways:
                before = os.getloadavg()[0]
                command = [sys.executable, str(Path(__file__).resolve()), "--child", size,
                           str(seed), way, "--time-limit", str(args.time_limit)]
                done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                                      check=False)
                after = os.getloadavg()[0]
                lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
                if not lines:
                    print(f"{size:<4} {seed:>4} {way:<12} failed ({done.returncode}):"
                          f" {done.stderr[-300:]}", flush=True)
                    continue
                r = json.loads(lines[-1])
                if way == "whole":
                    whole = r["bound"]
                bound = "-" if r["bound"] is None else f"{r['bound']:,.0f}"
                below = ("-" if r["bound"] is None or whole is None or way == "whole"
                         else f"{100 * (whole - r['bound']) / whole:.3f} %")
                print(f"{size:<4} {seed:>4} {way:<12} {r['columns']:>9,} {r['build_s']:>8.1f}"
                      f" {r['seconds']:>8.1f} {r['cpu_s']:>7.1f} {bound:>18} {below:>11}"
                      f" {r['peak_mb']:>8.0f}  {before:.1f}/{after:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
