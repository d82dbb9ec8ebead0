"""How each stage of the pipeline grows with the size of the instance.

Synthetic instances (`data.synthetic`, seeded) of sizes S, M, L and XL (XL has more than a
million variables) go through generate -> prepare -> Pyomo build -> hand-off to HiGHS ->
solve. Each size runs in a child process of its own so that its peak memory (max RSS) is its
own. Printed per size: variables, integer variables, constraints, nonzeros, the seconds of
each stage, peak memory, status and gap; then the growth exponent of each stage between
consecutive sizes (d log time / d log nonzeros: 1 is linear).

Usage (from the repository root)::

    python bench/scale.py                                # S, M, L solved; XL built only
    python bench/scale.py --sizes S M --time-limit 120
    python bench/scale.py --sizes XL --build-only XL
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def measure(size: str, seed: int, solve: bool, time_limit: float, gap: float,
            threads: int) -> dict[str, Any]:
    """Run one size through the stages in this process and return what was measured."""
    import highspy

    from reshore.data.synthetic import generate
    from reshore.models import network_design
    from reshore.optimizer.prepare import prepare
    from reshore.optimizer.solve import SolveOptions, run_highs, to_highs_lp

    # first-call costs (lazy imports in Pyomo's compiler, HiGHS start) are paid on a toy
    warm = to_highs_lp(network_design.build(prepare(generate("tiny", 0)))).lp
    highspy.Highs().passModel(warm)  # type: ignore[no-untyped-call]

    row: dict[str, Any] = {"size": size}
    started = time.perf_counter()
    network = generate(size, seed)
    row["generate"] = time.perf_counter() - started
    started = time.perf_counter()
    data = prepare(network)
    row["prepare"] = time.perf_counter() - started
    started = time.perf_counter()
    model = network_design.build(data)
    row["build"] = time.perf_counter() - started
    if solve:
        options = SolveOptions(time_limit_s=time_limit, mip_gap=gap, threads=threads,
                               random_seed=0)
        outcome = run_highs(model, options, money_unit=data.money_unit)
        size_of = outcome.size
        row.update(handoff=outcome.handoff_s, solve=outcome.solve_s,
                   status=outcome.model_status, gap=outcome.gap)
    else:
        started = time.perf_counter()
        handoff = to_highs_lp(model)
        lp, integers = handoff.lp, handoff.integers
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        row.update(handoff=time.perf_counter() - started, solve=math.nan,
                   status="built only", gap=None)
        size_of = None
        row.update(variables=lp.num_col_, integer_variables=integers,
                   constraints=lp.num_row_, nonzeros=len(lp.a_matrix_.value_))
    if size_of is not None:
        row.update(variables=size_of.variables, integer_variables=size_of.integer_variables,
                   constraints=size_of.constraints, nonzeros=size_of.nonzeros)
    row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def run_child(size: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", size,
               "--seed", str(args.seed), "--time-limit", str(args.time_limit),
               "--gap", str(args.gap), "--threads", str(args.threads)]
    if size in args.build_only:
        command.append("--no-solve")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    return {"size": size, "status": f"failed ({done.returncode}): {done.stderr[-300:]}"}


def _seconds(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pipeline stages against instance size")
    parser.add_argument("--sizes", nargs="*", default=["S", "M", "L", "XL"])
    parser.add_argument("--build-only", nargs="*", default=["XL"],
                        help="sizes to build and hand off without solving (default XL)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--gap", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no-solve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        row = measure(args.child, args.seed, not args.no_solve, args.time_limit, args.gap,
                      args.threads)
        print(json.dumps(row))
        return 0

    print(f"# scale: seed {args.seed}, gap {args.gap:g}, threads {args.threads},"
          f" time limit {args.time_limit:g} s; each size in its own process")
    print(f"{'size':<4} {'variables':>10} {'integer':>8} {'constraints':>11} {'nonzeros':>10}"
          f" {'generate':>8} {'prepare':>7} {'build':>7} {'handoff':>7} {'solve':>7}"
          f" {'peak MB':>8} {'status':<18} gap")
    rows = []
    for size in args.sizes:
        row = run_child(size, args)
        rows.append(row)
        if "nonzeros" not in row:
            print(f"{size:<4} {row['status']}", flush=True)
            continue
        gap = row.get("gap")
        print(f"{size:<4} {row['variables']:>10,} {row['integer_variables']:>8,}"
              f" {row['constraints']:>11,} {row['nonzeros']:>10,}"
              f" {_seconds(row['generate']):>8} {_seconds(row['prepare']):>7}"
              f" {_seconds(row['build']):>7} {_seconds(row['handoff']):>7}"
              f" {_seconds(row['solve']):>7} {row['peak_mb']:>8.0f} {row['status']:<18}"
              f" {'-' if gap is None else f'{gap:.1e}'}", flush=True)

    measured = [r for r in rows if "nonzeros" in r]
    if len(measured) > 1:
        print("\n# growth exponent between consecutive sizes: d log(seconds) / d log(nonzeros)"
              " (1 = linear)")
        print(f"{'from':<4} {'to':<4} {'nonzeros x':>10} {'prepare':>7} {'build':>7}"
              f" {'handoff':>7} {'peak MB':>7}")
        for a, b in itertools.pairwise(measured):
            scale = math.log(b["nonzeros"] / a["nonzeros"])

            def exponent(key: str, a: dict[str, Any] = a, b: dict[str, Any] = b,
                         scale: float = scale) -> str:
                return f"{math.log(b[key] / a[key]) / scale:.2f}" if a[key] > 0 else "-"

            print(f"{a['size']:<4} {b['size']:<4} {b['nonzeros'] / a['nonzeros']:>10.1f}"
                  f" {exponent('prepare'):>7} {exponent('build'):>7} {exponent('handoff'):>7}"
                  f" {exponent('peak_mb'):>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
