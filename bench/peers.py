"""OR-Library CFLP instances solved by reshore and by its peers, side by side.

Routes, on the same instances, time limit, gap and threads:

* ``ours``  -- the product pipeline: contract -> prepare -> Pyomo -> HiGHS -> Plan -> checker;
* ``floor`` -- the plain strong CFLP built directly as numpy arrays and handed to highspy in
  one ``passModel`` call (no modelling layer at all), solved by default HiGHS;
* ``pyomo`` -- the same plain strong CFLP stated in Pyomo and solved through
  ``SolverFactory('highs')``, the usual Pyomo route;
* ``pulp``  -- the same model in PuLP, solved by the CBC that PuLP bundles.

Printed per instance and route: objective, status, build, hand-off and solve seconds, total
(time to the answer). Then the ratios: ours / floor for build + hand-off, and ours / peer for
the time to a proven optimum (geometric mean over the instances that both proved optimal).

Usage (from the repository root)::

    python bench/peers.py                              # small set, every route
    python bench/peers.py --instances capa-8000 capc-7250 --routes ours floor
    python bench/peers.py --large --routes ours floor pyomo --time-limit 600
    python bench/peers.py --build-only --instances capa-8000 capb-5000   # no solve
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highspy
import numpy as np

from reshore.data.orlib import (
    Cflp,
    cflp_network,
    instance_key,
    instance_names,
    read_cflp,
    read_optima,
)
from reshore.optimizer.check import check
from reshore.optimizer.solve import SolveOptions, solve

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = ROOT.parent / "shared" / "benchmarks" / "orlib-cap"
INF = highspy.kHighsInf
ROUTES = ("ours", "floor", "pyomo", "pulp")


@dataclass
class Run:
    """One route on one instance; seconds are wall-clock."""

    route: str
    build: float
    handoff: float
    solve: float
    objective: float
    status: str
    optimal: bool
    note: str = ""

    @property
    def total(self) -> float:
        return self.build + self.handoff + self.solve


@dataclass(frozen=True)
class Limits:
    time_limit: float
    gap: float
    threads: int
    solve: bool = True


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = work()
    return out, time.perf_counter() - started


# --- ours ---------------------------------------------------------------------------------


def run_ours(cflp: Cflp, limits: Limits) -> Run:
    """The product pipeline; `build` counts prepare + Pyomo build (the contract is read
    before the clock starts, like a user's input file)."""
    from reshore.models import network_design
    from reshore.optimizer.prepare import prepare
    from reshore.optimizer.solve import to_highs_lp

    network = cflp_network(cflp)
    if not limits.solve:
        started = time.perf_counter()
        model = network_design.build(prepare(network))
        built = time.perf_counter() - started
        lp = to_highs_lp(model).lp
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.passModel(lp)
        return Run("ours", built, time.perf_counter() - started - built, 0.0, math.nan,
                   "not solved", False)
    options = SolveOptions(time_limit_s=limits.time_limit, mip_gap=limits.gap,
                           threads=limits.threads, random_seed=0)
    plan = solve(network, options)
    report = check(network, plan) if plan.has_solution else None
    t = plan.timings
    return Run("ours", t.prepare + t.build, t.handoff, t.solve,
               math.nan if plan.objective is None else float(plan.objective), str(plan.status),
               str(plan.status) == "optimal",
               "" if report is None or report.ok else "CHECKER FAILED")


# --- the floor: numpy arrays straight into highspy -----------------------------------------


def floor_arrays(cflp: Cflp) -> dict[str, Any]:
    """The plain strong CFLP as column-wise arrays; x_ij is the fraction of j served by i.

    Columns: y_i (i < m), then x_ij at m + i*n + j.  Rows: demand_j (j < n), capacity_i at
    n + i, linking x_ij <= y_i at n + m + i*n + j."""
    m, n = cflp.warehouses, cflp.customers
    warehouses = np.arange(m)
    link_rows = n + m + warehouses[:, None] * n + np.arange(n)[None, :]
    y_index = np.empty((m, n + 1), dtype=np.int32)
    y_index[:, 0] = n + warehouses
    y_index[:, 1:] = link_rows
    y_value = np.full((m, n + 1), -1.0)
    y_value[:, 0] = -cflp.capacity
    x_index = np.empty((m, n, 3), dtype=np.int32)
    x_index[:, :, 0] = np.arange(n)[None, :]
    x_index[:, :, 1] = (n + warehouses)[:, None]
    x_index[:, :, 2] = link_rows
    x_value = np.empty((m, n, 3))
    x_value[:, :, 0] = 1.0
    x_value[:, :, 1] = cflp.demand[None, :]
    x_value[:, :, 2] = 1.0
    cells = m * n
    return {
        "cost": np.concatenate((cflp.fixed_cost, cflp.allocation_cost.ravel())),
        "col_lower": np.zeros(m + cells),
        "col_upper": np.ones(m + cells),
        "row_lower": np.concatenate((np.ones(n), np.full(m + cells, -INF))),
        "row_upper": np.concatenate((np.ones(n), np.zeros(m + cells))),
        "start": np.concatenate((warehouses * (n + 1),
                                 m * (n + 1) + 3 * np.arange(cells + 1))).astype(np.int32),
        "index": np.concatenate((y_index.ravel(), x_index.ravel())),
        "value": np.concatenate((y_value.ravel(), x_value.ravel())),
        "integrality": np.concatenate((np.ones(m, dtype=np.int32),
                                       np.zeros(cells, dtype=np.int32))),
    }


def _highs(limits: Limits) -> highspy.Highs:
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(limits.time_limit))
    h.setOptionValue("mip_rel_gap", float(limits.gap))
    h.setOptionValue("threads", int(limits.threads))
    h.setOptionValue("random_seed", 0)
    return h


def run_floor(cflp: Cflp, limits: Limits) -> Run:
    a, built = _timed(lambda: floor_arrays(cflp))
    h = _highs(limits)

    def hand_off() -> None:
        h.passModel(len(a["cost"]), len(a["row_lower"]), len(a["value"]),
                    int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize), 0.0,
                    a["cost"], a["col_lower"], a["col_upper"], a["row_lower"], a["row_upper"],
                    a["start"], a["index"], a["value"], a["integrality"])

    _, handed = _timed(hand_off)
    if not limits.solve:
        return Run("floor", built, handed, 0.0, math.nan, "not solved", False)
    _, solved = _timed(h.run)
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    objective = info.objective_function_value if info.primal_solution_status == 2 else math.nan
    return Run("floor", built, handed, solved, objective, status.lower(), status == "Optimal")


# --- Pyomo with SolverFactory('highs') -----------------------------------------------------


def pyomo_model(cflp: Cflp) -> Any:
    import pyomo.environ as pyo

    f, s, d = cflp.fixed_cost.tolist(), cflp.capacity.tolist(), cflp.demand.tolist()
    c = cflp.allocation_cost.tolist()
    model = pyo.ConcreteModel()
    model.I = pyo.RangeSet(0, cflp.warehouses - 1)
    model.J = pyo.RangeSet(0, cflp.customers - 1)
    model.y = pyo.Var(model.I, domain=pyo.Binary)
    model.x = pyo.Var(model.I, model.J, bounds=(0, 1))
    model.cost = pyo.Objective(expr=sum(f[i] * model.y[i] for i in model.I) + sum(
        c[i][j] * model.x[i, j] for i in model.I for j in model.J))
    model.serve = pyo.Constraint(model.J, rule=lambda m, j: sum(m.x[i, j] for i in m.I) == 1)
    model.capacity = pyo.Constraint(model.I, rule=lambda m, i: sum(
        d[j] * m.x[i, j] for j in m.J) <= s[i] * m.y[i])
    model.link = pyo.Constraint(model.I, model.J, rule=lambda m, i, j: m.x[i, j] <= m.y[i])
    return model


def run_pyomo(cflp: Cflp, limits: Limits) -> Run:
    import pyomo.environ as pyo
    from pyomo.common.timing import HierarchicalTimer

    model, built = _timed(lambda: pyomo_model(cflp))
    solver = pyo.SolverFactory("highs")
    timer = HierarchicalTimer()
    solver.config.timer = timer
    options: dict[str, Any] = {"mip_rel_gap": limits.gap, "threads": limits.threads,
                               "random_seed": 0}
    if not limits.solve:
        options["time_limit"] = 1e-3  # hand the model over, stop at once
    time_limit = limits.time_limit if limits.solve else 1e-3
    results, whole = _timed(lambda: solver.solve(
        model, timelimit=time_limit, solver_options=options, load_solutions=False,
        raise_exception_on_nonoptimal_result=False))

    def total(name: str) -> float:
        try:
            return float(timer.get_total_time(name))
        except KeyError:
            return 0.0

    handed = total("set_instance") + total("update")
    solved = whole - handed
    if not limits.solve:
        return Run("pyomo", built, handed, 0.0, math.nan, "not solved", False)
    condition = str(results.solver.termination_condition)
    objective = results.problem.upper_bound
    optimal = condition == "optimal"
    return Run("pyomo", built, handed, solved,
               float(objective) if objective is not None else math.nan, condition, optimal)


# --- PuLP with its bundled CBC -------------------------------------------------------------


def run_pulp(cflp: Cflp, limits: Limits) -> Run:
    import pulp  # type: ignore[import-untyped,import-not-found,unused-ignore]

    def make() -> Any:
        m, n = cflp.warehouses, cflp.customers
        problem = pulp.LpProblem("cflp", pulp.LpMinimize)
        y = [pulp.LpVariable(f"y{i}", cat="Binary") for i in range(m)]
        x = [[pulp.LpVariable(f"x{i}_{j}", 0, 1) for j in range(n)] for i in range(m)]
        c, d = cflp.allocation_cost.tolist(), cflp.demand.tolist()
        problem += pulp.lpSum(float(cflp.fixed_cost[i]) * y[i] for i in range(m)) + \
            pulp.lpSum(c[i][j] * x[i][j] for i in range(m) for j in range(n))
        for j in range(n):
            problem += pulp.lpSum(x[i][j] for i in range(m)) == 1
        for i in range(m):
            problem += pulp.lpSum(d[j] * x[i][j] for j in range(n)) <= \
                float(cflp.capacity[i]) * y[i]
            for j in range(n):
                problem += x[i][j] <= y[i]
        return problem

    problem, built = _timed(make)
    if not limits.solve:
        return Run("pulp", built, 0.0, 0.0, math.nan, "not solved", False)
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=limits.time_limit, gapRel=limits.gap,
                               threads=limits.threads)
    _, solved = _timed(lambda: problem.solve(solver))
    status = pulp.LpStatus[problem.status]
    objective = pulp.value(problem.objective)
    # CBC reports "Optimal" after a time limit when it has a feasible plan: trust it only when
    # it finished before the limit.
    optimal = status == "Optimal" and solved < limits.time_limit
    return Run("pulp", built, 0.0, solved,
               float(objective) if objective is not None else math.nan,
               status.lower() if optimal or status != "Optimal" else "time limit", optimal,
               "hand-off (MPS write + CBC read) is inside solve")


RUNNERS: dict[str, Callable[[Cflp, Limits], Run]] = {
    "ours": run_ours, "floor": run_floor, "pyomo": run_pyomo, "pulp": run_pulp}


# --- tables --------------------------------------------------------------------------------


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"highspy {version('highspy')}", f"pyomo {version('pyomo')}"]
    try:
        parts.append(f"pulp {version('pulp')} (its bundled CBC)")
    except PackageNotFoundError:
        parts.append("pulp not installed (pip install -e '.[bench]')")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER,
                        help="folder of the cap*.txt files and capopt.txt")
    parser.add_argument("--instances", nargs="*", default=None,
                        help="e.g. cap41 capa-8000 (default: the 37 small ones)")
    parser.add_argument("--large", action="store_true", help="the 12 large instances")
    parser.add_argument("--routes", nargs="*", default=list(ROUTES), choices=ROUTES)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=1e-6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--build-only", action="store_true",
                        help="measure build and hand-off only, do not solve")
    args = parser.parse_args(argv)

    optima = read_optima(args.folder / "capopt.txt")
    every = instance_names()
    if args.instances:
        chosen = [pair for pair in every if instance_key(*pair) in args.instances]
    elif args.large:
        chosen = [pair for pair in every if pair[1] is not None]
    else:
        chosen = [pair for pair in every if pair[1] is None]
    limits = Limits(args.time_limit, args.gap, args.threads, solve=not args.build_only)
    print(f"# peers: {versions()}; time limit {limits.time_limit:g} s, gap {limits.gap:g},"
          f" threads {limits.threads}")
    print(f"{'instance':<11} {'route':<6} {'objective':>16} {'rel.diff':>9} {'status':<12}"
          f" {'build':>7} {'handoff':>7} {'solve':>8} {'total':>8}")
    results: dict[str, dict[str, Run]] = {}
    for stem, capacity in chosen:
        cflp = read_cflp(args.folder / f"{stem}.txt", capacity)
        key = instance_key(stem, capacity)
        results[key] = {}
        for route in args.routes:
            run = RUNNERS[route](cflp, limits)
            results[key][route] = run
            best = optima.get(key, math.nan)
            diff = abs(run.objective - best) / best if math.isfinite(run.objective) else math.nan
            print(f"{key:<11} {route:<6} {run.objective:>16.3f} {diff:>9.1e} {run.status:<12}"
                  f" {run.build:>7.3f} {run.handoff:>7.3f} {run.solve:>8.2f} {run.total:>8.2f}"
                  f" {run.note}", flush=True)

    if "ours" in args.routes:
        print("\n# ratios (geometric mean over instances; time to proven optimum counts only"
              " instances both routes proved optimal)")
        for route in args.routes:
            if route == "ours":
                continue
            pairs = [(r["ours"], r[route]) for r in results.values()]
            build = geometric_mean([(a.build + a.handoff) / (b.build + b.handoff)
                                    for a, b in pairs if b.build + b.handoff > 0])
            proven = [(a.total, b.total) for a, b in pairs if a.optimal and b.optimal]
            speed = geometric_mean([a / b for a, b in proven])
            print(f"ours/{route:<6} build+hand-off {build:7.2f}   time to optimum {speed:7.2f}"
                  f"  ({len(proven)} of {len(pairs)} instances proved by both)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
