"""Which HiGHS LP solver gets through the large synthetic LPs: the LP relaxation of the whole
model, and the LP that the greedy construction leaves (its site decisions fixed, see
`optimizer.heuristics.greedy_fixings`).

Per size, seed, LP and solver configuration (each in a child process of its own, one after
the other): the seconds, HiGHS's model status, the objective (in model units), the
iterations, and the process's CPU seconds (on a shared machine the wall clock stretches
with the load; the load averages are printed too).

Configurations: `ipm` (interior point with crossover, the solve path's default),
`ipm-nox` (interior point without crossover), `simplex` (HiGHS's choice of simplex, dual
here), `pdlp` (first-order PDLP).

`--equilibrate` divides each row by its largest coefficient first
(`LpArrays.rows_equilibrated`, as the solve path loads its restricted solves and the
relaxation).

Usage (from the repository root)::

    nice -n 5 python bench/lp_solvers.py --size L --seed 0 --lps greedy --time-limit 120
    nice -n 5 python bench/lp_solvers.py --size L --seed 0 --lps relaxation \\
        --configs ipm-nox --time-limit 400
    nice -n 5 python bench/lp_solvers.py --size L --seed 1 --lps relaxation \\
        --configs ipm-nox --time-limit 900 --equilibrate
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIGS: dict[str, dict[str, Any]] = {
    "ipm": {"solver": "ipm"},
    "ipm-nox": {"solver": "ipm", "run_crossover": "off"},
    "simplex": {"solver": "simplex"},
    "pdlp": {"solver": "pdlp"},
}


def measure(size: str, seed: int, which: str, config: str, time_limit: float,
            equilibrate: bool = False) -> dict[str, Any]:
    """Solve one LP of one instance with one configuration in this process."""
    import highspy
    import numpy as np

    from reshore.data.synthetic import generate
    from reshore.models import network_design
    from reshore.optimizer.heuristics import family_columns, greedy_fixings
    from reshore.optimizer.prepare import prepare
    from reshore.optimizer.solve import to_highs_lp

    data = prepare(generate(size, seed))
    built = network_design.build(data)
    handoff = to_highs_lp(built)
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    if equilibrate:
        handoff.arrays.rows_equilibrated().pass_to(h)
    else:
        h.passModel(handoff.lp)
    if which == "greedy":
        fixing = greedy_fixings(built, data, family_columns(built, handoff.columns))[0]
        h.changeColsBounds(fixing.columns.size, fixing.columns.astype(np.int32),
                           fixing.values, fixing.values)
    h.setOptionValue("solve_relaxation", True)
    h.setOptionValue("threads", 1)
    h.setOptionValue("time_limit", time_limit)
    for name, value in CONFIGS[config].items():
        h.setOptionValue(name, value)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    h.run()
    info = h.getInfo()
    optimal = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return {"size": size, "seed": seed, "lp": which,
            "config": config + (" eq" if equilibrate else ""),
            "columns": handoff.lp.num_col_, "rows": handoff.lp.num_row_,
            "seconds": time.perf_counter() - started, "cpu_s": _cpu_seconds() - cpu_before,
            "status": h.modelStatusToString(h.getModelStatus()),
            "objective": float(info.objective_function_value) if optimal else None,
            "iterations": f"simplex {info.simplex_iteration_count}, ipm"
                          f" {info.ipm_iteration_count}, pdlp {info.pdlp_iteration_count}"}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HiGHS LP solvers on the synthetic LPs")
    parser.add_argument("--size", default="L")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lps", nargs="*", default=["greedy", "relaxation"],
                        choices=["greedy", "relaxation"])
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--equilibrate", action="store_true",
                        help="divide each row by its largest coefficient first, as the solve"
                             " path does for restricted solves and the relaxation")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        which, config = args.child
        print(json.dumps(measure(args.size, args.seed, which, config, args.time_limit,
                                 args.equilibrate)))
        return 0

    print(f"# lp_solvers: size {args.size}, seed {args.seed}, one thread, time limit"
          f" {args.time_limit:g} s; each run in its own process")
    print(f"{'lp':<10} {'config':<8} {'columns':>8} {'rows':>8} {'seconds':>8} {'cpu s':>6}"
          f" {'status':<20} {'objective':>12}  iterations  load before/after")
    for which in args.lps:
        for config in args.configs:
            before = os.getloadavg()[0]
            command = [sys.executable, str(Path(__file__).resolve()), "--child", which, config,
                       "--size", args.size, "--seed", str(args.seed),
                       "--time-limit", str(args.time_limit),
                       *(["--equilibrate"] if args.equilibrate else [])]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                                  check=False)
            after = os.getloadavg()[0]
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if not lines:
                print(f"{which:<10} {config:<8} failed ({done.returncode}):"
                      f" {done.stderr[-300:]}", flush=True)
                continue
            r = json.loads(lines[-1])
            objective = "-" if r["objective"] is None else f"{r['objective']:.6g}"
            print(f"{which:<10} {r['config']:<11} {r['columns']:>8,} {r['rows']:>8,}"
                  f" {r['seconds']:>8.1f} {r['cpu_s']:>6.1f} {r['status']:<20} {objective:>12}"
                  f"  {r['iterations']}  {before:.1f}/{after:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
