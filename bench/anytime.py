"""Plan quality over time on the synthetic sizes: reshore's solve path against default HiGHS
on the same compiled model.

Per size, seed and method (each in a child process of its own, one after the other, so that
peak memory is the method's own and the methods share the machine in the same way): model
size, the seconds of each stage, the time to the first plan (from the start of the
pipeline), the gap at 60, 120, 300, 600, 1200 and 1800 s of solving (as far as the time
limit goes), the final status, objective and bound, peak memory, the CPU seconds the
method's process used (on a shared machine wall-clock times stretch with the load; the load
averages before and after each instance are printed), the primal integral, and for
reshore's plan its service level, sites operating in the last period, mean utilisation and
the checker's verdict.

Methods:
  ours     the product's solve path (`optimizer.solve.solve`, default options)
  plain    the same without the MIP starts (construct_start and lp_guided_start off)
  greedy   only the greedy construction as start; guided: only LP-guided fixing
  highs    default HiGHS on the same model compiled whole (no rows held back), one run

The primal integral is the area under the primal gap curve over the time limit, in
seconds: gap(t) = (best(t) - reference) / max(|best(t)|, |reference|), 1 before the first
plan, reference = the best objective any method reached on that instance. 0 is a perfect
run; the time limit is the worst.

Usage (from the repository root)::

    nice -n 5 python bench/anytime.py --sizes M --seeds 0 1 2 3 4 --time-limit 120
    nice -n 5 python bench/anytime.py --sizes L --seeds 0 --time-limit 600 --methods ours highs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = (60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)


def measure(size: str, seed: int, method: str, time_limit: float, gap: float,
            threads: int) -> dict[str, Any]:
    """Run one method on one instance in this process; return what was measured."""
    from reshore.data.synthetic import generate
    from reshore.optimizer.solve import SolveOptions, solve

    solve(generate("tiny", 0), SolveOptions(threads=1))  # first-call costs paid on a toy
    network = generate(size, seed)
    if method == "highs":
        return _default_highs(network, time_limit, gap, threads)
    trace: list[tuple[float, float | None, float | None]] = []
    flags = {"ours": {}, "plain": {"construct_start": False, "lp_guided_start": False},
             "greedy": {"lp_guided_start": False}, "guided": {"construct_start": False}}
    options = SolveOptions(
        time_limit_s=time_limit, mip_gap=gap, threads=threads, random_seed=0,
        progress_every_s=0.5, **flags[method],  # type: ignore[arg-type]
        on_progress=lambda p: trace.append((p.elapsed_s, p.best_objective, p.bound)))
    plan = solve(network, options)
    timings = plan.timings
    before = timings.prepare + timings.build + timings.handoff
    trace.append((timings.solve, plan.objective, plan.bound))
    row = _row(size, seed, method, trace, before, time_limit)
    row.update(variables=plan.size.variables, constraints=plan.size.constraints,
               nonzeros=plan.size.nonzeros, prepare=timings.prepare, build=timings.build,
               handoff=timings.handoff, solve=timings.solve, status=str(plan.status),
               objective=plan.objective, bound=plan.bound,
               peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               cpu_s=_cpu_seconds())
    if plan.has_solution:
        from reshore.optimizer.check import check

        usage = plan.tables["utilisation"]
        last = usage[usage.period == usage.period.max()]
        row.update(service=plan.service_level(), sites=int((last.capacity_hours > 0).sum()
                                                           / max(1, len(plan.scenarios))),
                   utilisation=float((usage.hours_used / usage.capacity_hours).mean())
                   if len(usage) else None,
                   checker=check(network, plan).ok)
    return row


def _default_highs(network: Any, time_limit: float, gap: float,
                   threads: int) -> dict[str, Any]:
    """Default HiGHS (one run of its MIP solver) on the model compiled with every row."""
    import highspy

    from reshore.models import network_design
    from reshore.optimizer.prepare import prepare
    from reshore.optimizer.solve import to_highs_lp

    started = time.perf_counter()
    data = prepare(network)
    prepare_s = time.perf_counter() - started
    started = time.perf_counter()
    model = network_design.build(data)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    lp = to_highs_lp(model).lp
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", time_limit)
    h.setOptionValue("mip_rel_gap", gap)
    h.setOptionValue("threads", threads)
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    handoff_s = time.perf_counter() - started
    unit = data.money_unit
    trace: list[tuple[float, float | None, float | None]] = []
    clock = [0.0, 0.0]

    def record(event: Any) -> None:
        now = time.perf_counter() - clock[0]
        out = event.data_out
        best = out.mip_primal_bound if abs(out.mip_primal_bound) < highspy.kHighsInf else None
        bound = out.mip_dual_bound if abs(out.mip_dual_bound) < highspy.kHighsInf else None
        last = trace[-1] if trace else (0.0, None, None)
        if now - clock[1] >= 0.5 or (best, bound) != last[1:]:
            clock[1] = now
            trace.append((now, None if best is None else best * unit,
                          None if bound is None else bound * unit))

    h.cbMipInterrupt += record
    clock[0] = time.perf_counter()
    h.run()
    solve_s = time.perf_counter() - clock[0]
    info = h.getInfo()
    has = info.primal_solution_status == 2
    objective = info.objective_function_value * unit if has else None
    bound = info.mip_dual_bound * unit if abs(info.mip_dual_bound) < highspy.kHighsInf else None
    trace.append((solve_s, objective, bound))
    row = _row("", 0, "highs", trace, prepare_s + build_s + handoff_s, time_limit)
    row.update(variables=lp.num_col_, constraints=lp.num_row_,
               nonzeros=len(lp.a_matrix_.value_), prepare=prepare_s, build=build_s,
               handoff=handoff_s, solve=solve_s,
               status=h.modelStatusToString(h.getModelStatus()), objective=objective,
               bound=bound, peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               cpu_s=_cpu_seconds())
    return row


def _cpu_seconds() -> float:
    """User and system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _row(size: str, seed: int, method: str, trace: list[tuple[float, Any, Any]],
         before: float, time_limit: float) -> dict[str, Any]:
    first = next((t for t, best, _ in trace if best is not None), None)
    row: dict[str, Any] = {"size": size, "seed": seed, "method": method, "trace": trace,
                           "first_plan": None if first is None else before + first}
    for point in CHECKPOINTS:
        if point <= time_limit + 1e-9:
            row[f"gap{point:g}"] = _gap_at(trace, point)
    return row


def _gap_at(trace: list[tuple[float, Any, Any]], when: float) -> float | None:
    """The gap (best - bound) / |best| at `when` seconds of solving; None without both."""
    best: float | None = None
    bound: float | None = None
    for t, b, d in trace:
        if t > when:
            break
        best, bound = (b if b is not None else best), (d if d is not None else bound)
    if best is None or bound is None:
        return None
    return max(0.0, best - bound) / max(1.0, abs(best))


def primal_integral(trace: list[tuple[float, Any, Any]], reference: float,
                    time_limit: float) -> float:
    """Area under the primal gap over [0, time_limit] (see the module docstring)."""
    area, at, gap = 0.0, 0.0, 1.0
    best = math.inf
    for t, b, _ in sorted(trace, key=lambda p: p[0]):
        t = min(t, time_limit)
        area += gap * (t - at)
        at = t
        if b is not None and b < best:
            best = b
            gap = (best - reference) / max(abs(best), abs(reference), 1e-9)
    return area + gap * (time_limit - at)


def run_child(size: str, seed: int, method: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", size, method,
               "--seeds", str(seed), "--time-limit", str(args.time_limit), "--gap",
               str(args.gap), "--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            result.update(size=size, seed=seed, method=method)
            return result
    return {"size": size, "seed": seed, "method": method,
            "status": f"failed ({done.returncode}): {done.stderr[-300:]}"}


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="plan quality over time, ours vs HiGHS")
    parser.add_argument("--sizes", nargs="*", default=["M"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--methods", nargs="*", default=["ours", "highs"])
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--gap", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write every row (with its trace) to this file")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        size, method = args.child
        print(json.dumps(measure(size, args.seeds[0], method, args.time_limit, args.gap,
                                 args.threads)))
        return 0

    limit = args.time_limit
    points = [p for p in CHECKPOINTS if p <= limit + 1e-9]
    print(f"# anytime: gap {args.gap:g}, threads {args.threads}, time limit {limit:g} s;"
          " methods one after the other, each in its own process")
    print(f"{'size':<4} {'seed':>4} {'method':<6} {'vars':>9} {'rows':>8} {'nonzeros':>9}"
          f" {'prep':>5} {'build':>5} {'hand':>5} {'solve':>6} {'1st plan':>8}"
          + "".join(f" {f'gap@{p:g}':>8}" for p in points)
          + f" {'status':<18} {'objective':>14} {'bound':>14} {'peak MB':>7} {'cpu s':>6}"
          f" {'PI s':>6}"
          f" {'service':>7} {'sites':>5} {'util':>5} checker")
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        for seed in args.seeds:
            before = os.getloadavg()
            group = [run_child(size, seed, method, args) for method in args.methods]
            after = os.getloadavg()
            print(f"# {size} seed {seed}: load average (1/5/15 min) before"
                  f" {before[0]:.1f}/{before[1]:.1f}/{before[2]:.1f},"
                  f" after {after[0]:.1f}/{after[1]:.1f}/{after[2]:.1f}", flush=True)
            finals = [r["objective"] for r in group if r.get("objective") is not None]
            reference = min(finals) if finals else None
            for r in group:
                if "trace" not in r:
                    print(f"{size:<4} {seed:>4} {r['method']:<6} {r['status']}", flush=True)
                    continue
                r["primal_integral"] = None if reference is None else primal_integral(
                    r["trace"], reference, limit)
                print(f"{size:<4} {seed:>4} {r['method']:<6} {r['variables']:>9,}"
                      f" {r['constraints']:>8,} {r['nonzeros']:>9,} {r['prepare']:>5.1f}"
                      f" {r['build']:>5.1f} {r['handoff']:>5.1f} {r['solve']:>6.1f}"
                      f" {_fmt(r['first_plan'], '.1f'):>8}"
                      + "".join(f" {_fmt(r.get(f'gap{p:g}'), '.2%'):>8}" for p in points)
                      + f" {r['status']:<18} {_fmt(r['objective'], ',.0f'):>14}"
                      f" {_fmt(r['bound'], ',.0f'):>14} {r['peak_mb']:>7.0f}"
                      f" {_fmt(r.get('cpu_s'), '.0f'):>6}"
                      f" {_fmt(r['primal_integral'], '.1f'):>6}"
                      f" {_fmt(r.get('service'), '.3f'):>7} {_fmt(r.get('sites'), 'd'):>5}"
                      f" {_fmt(r.get('utilisation'), '.2f'):>5} {r.get('checker', '-')}",
                      flush=True)
                rows.append(r)
    if args.json:
        Path(args.json).write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
