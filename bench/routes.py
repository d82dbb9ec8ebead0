"""Benchmark the routes from a Pyomo MILP to HiGHS.

A capacitated facility location problem (CFLP, strong formulation) is generated
from a seed and handed to HiGHS along several routes.  Each route is timed in
four phases:

* build     -- constructing the model (a Pyomo ``ConcreteModel``; numpy arrays for
               the floor route),
* hand-off  -- everything from the built model until HiGHS holds the model
               (compiling / writing / reading / loading),
* solve     -- the HiGHS run itself,
* load-back -- getting the variable values back into Python (Pyomo ``Var`` values,
               or a numpy array for the floor route), including results handling.

Routes:

* ``stdform+passModel``  -- ``LinearStandardFormCompiler().write(m, mixed_form=True)``
  then ``highspy.Highs.passModel`` with the CSC arrays.
* ``highs (contrib.solver)`` -- ``pyomo.environ.SolverFactory('highs')``, which in
  Pyomo 6.10 is the legacy wrapper around the new ``pyomo.contrib.solver``
  persistent HiGHS interface; phases come from its ``HierarchicalTimer``.
* ``appsi_highs`` -- the APPSI persistent HiGHS interface (native APPSI ``solve``
  so that its ``HierarchicalTimer`` is reachable).
* ``lp-file+readModel`` -- ``model.write('x.lp')`` then ``highspy.Highs.readModel``.
* ``numpy floor`` -- the same CFLP built directly as numpy arrays and passed with
  ``passModel`` (no Pyomo at all).

Before timing, all routes are solved to optimality (``mip_rel_gap=0``) on a small
instance and their objectives are checked to agree to 1e-6 (relative).  The
per-phase time reported is the minimum over ``--repeat`` runs.

Usage::

    python bench/routes.py                       # 100 facilities x 1000 customers
    python bench/routes.py --facilities 20 --customers 200 --time-limit 10
    python bench/routes.py --repeat 3 --threads 1 --seed 7
    python bench/routes.py --routes stdform floor   # a subset of the routes
"""

from __future__ import annotations

import argparse
import gc
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.timing import HierarchicalTimer
from pyomo.contrib.appsi.base import LegacySolverInterface
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

INF = highspy.kHighsInf
T = TypeVar("T")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CflpData:
    """Instance data: fixed costs f, capacities s, demands d, unit costs c[i, j]."""

    f: np.ndarray
    s: np.ndarray
    d: np.ndarray
    c: np.ndarray

    @property
    def n_fac(self) -> int:
        return len(self.f)

    @property
    def n_cust(self) -> int:
        return len(self.d)


def make_data(n_fac: int, n_cust: int, seed: int, capacity_ratio: float = 5.0) -> CflpData:
    """Cornuejols-style random CFLP instance in the unit square."""
    rng = np.random.default_rng(seed)
    fac_xy = rng.random((n_fac, 2))
    cust_xy = rng.random((n_cust, 2))
    d = rng.integers(5, 36, n_cust).astype(float)
    s = rng.integers(10, 161, n_fac).astype(float)
    s = np.round(s * capacity_ratio * d.sum() / s.sum())
    f = np.round(rng.integers(0, 91, n_fac) + rng.integers(100, 111, n_fac) * np.sqrt(s))
    dist = np.sqrt(((fac_xy[:, None, :] - cust_xy[None, :, :]) ** 2).sum(axis=2))
    c = np.round(10.0 * dist, 4)
    return CflpData(f=f.astype(float), s=s, d=d, c=c)


def build_pyomo(data: CflpData) -> pyo.ConcreteModel:
    """Strong CFLP formulation as a Pyomo ConcreteModel."""
    f, s, d = data.f.tolist(), data.s.tolist(), data.d.tolist()
    c = data.c.tolist()
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, data.n_fac - 1)
    m.J = pyo.RangeSet(0, data.n_cust - 1)
    m.y = pyo.Var(m.I, domain=pyo.Binary)
    m.x = pyo.Var(m.I, m.J, domain=pyo.NonNegativeReals)
    m.obj = pyo.Objective(
        expr=sum(f[i] * m.y[i] for i in m.I) + sum(c[i][j] * m.x[i, j] for i in m.I for j in m.J),
        sense=pyo.minimize,
    )
    m.demand = pyo.Constraint(m.J, rule=lambda m, j: sum(m.x[i, j] for i in m.I) == d[j])
    m.capacity = pyo.Constraint(m.I, rule=lambda m, i: sum(m.x[i, j] for j in m.J) <= s[i] * m.y[i])
    m.vub = pyo.Constraint(m.I, m.J, rule=lambda m, i, j: m.x[i, j] <= d[j] * m.y[i])
    return m


@dataclass
class ArrayLp:
    """A MILP in HiGHS column-wise array form."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    a_start: np.ndarray
    a_index: np.ndarray
    a_value: np.ndarray
    integrality: np.ndarray
    offset: float = 0.0


def build_arrays(data: CflpData) -> ArrayLp:
    """The same CFLP built directly as CSC arrays.

    Columns: y_i (i < nf), then x_ij at nf + i*nc + j.
    Rows: demand_j (j < nc), capacity_i at nc + i, vub_ij at nc + nf + i*nc + j.
    """
    nf, nc = data.n_fac, data.n_cust
    fi = np.arange(nf)
    vub_rows = nc + nf + fi[:, None] * nc + np.arange(nc)[None, :]

    y_index = np.empty((nf, nc + 1), dtype=np.int32)
    y_index[:, 0] = nc + fi
    y_index[:, 1:] = vub_rows
    y_value = np.empty((nf, nc + 1))
    y_value[:, 0] = -data.s
    y_value[:, 1:] = -data.d[None, :]

    x_index = np.empty((nf, nc, 3), dtype=np.int32)
    x_index[:, :, 0] = np.arange(nc)[None, :]
    x_index[:, :, 1] = (nc + fi)[:, None]
    x_index[:, :, 2] = vub_rows

    n_x = nf * nc
    a_start = np.concatenate((fi * (nc + 1), nf * (nc + 1) + 3 * np.arange(n_x + 1))).astype(
        np.int32
    )
    return ArrayLp(
        cost=np.concatenate((data.f, data.c.ravel())),
        col_lower=np.zeros(nf + n_x),
        col_upper=np.concatenate((np.ones(nf), np.full(n_x, INF))),
        row_lower=np.concatenate((data.d, np.full(nf + n_x, -INF))),
        row_upper=np.concatenate((data.d, np.zeros(nf + n_x))),
        a_start=a_start,
        a_index=np.concatenate((y_index.ravel(), x_index.ravel())),
        a_value=np.concatenate((y_value.ravel(), np.ones(3 * n_x))),
        integrality=np.concatenate((np.ones(nf, dtype=np.int32), np.zeros(n_x, dtype=np.int32))),
    )


# ------------------------------------------------------------------------ helpers


@dataclass(frozen=True)
class Settings:
    time_limit: float
    threads: int
    mip_rel_gap: float | None  # None: HiGHS default


@dataclass
class RouteResult:
    route: str
    build: float
    handoff: float
    solve: float
    loadback: float
    objective: float
    bound: float
    status: str
    details: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.build + self.handoff + self.solve + self.loadback


HighsOption = bool | int | float | str


def highs_options(settings: Settings) -> dict[str, HighsOption]:
    opts: dict[str, HighsOption] = {
        "output_flag": False,
        "time_limit": float(settings.time_limit),
        "threads": settings.threads,
    }
    if settings.mip_rel_gap is not None:
        opts["mip_rel_gap"] = settings.mip_rel_gap
    return opts


def new_highs(settings: Settings) -> highspy.Highs:
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    for key, val in highs_options(settings).items():
        h.setOptionValue(key, val)
    return h


def pass_arrays(h: highspy.Highs, lp: ArrayLp) -> None:
    """passModel(num_col, num_row, num_nz, a_format, sense, offset, cost, col_lower,
    col_upper, row_lower, row_upper, a_start, a_index, a_value, integrality)."""
    status = h.passModel(
        len(lp.cost),
        len(lp.row_lower),
        len(lp.a_value),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        lp.offset,
        lp.cost,
        lp.col_lower,
        lp.col_upper,
        lp.row_lower,
        lp.row_upper,
        lp.a_start,
        lp.a_index,
        lp.a_value,
        lp.integrality,
    )
    if status != highspy.HighsStatus.kOk:
        raise RuntimeError(f"passModel returned {status}")


def highs_summary(h: highspy.Highs) -> tuple[float, float, str]:
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    obj = info.objective_function_value if info.primal_solution_status == 2 else math.nan
    return obj, info.mip_dual_bound, status


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def timer_total(timer: HierarchicalTimer, name: str) -> float:
    try:
        return float(timer.get_total_time(name))
    except KeyError:
        return 0.0


# ------------------------------------------------------------------------- routes


def route_stdform(data: CflpData, settings: Settings) -> RouteResult:
    m, t_build = timed(lambda: build_pyomo(data))

    t0 = time.perf_counter()
    info = LinearStandardFormCompiler().write(m, mixed_form=True)
    t_compile = time.perf_counter() - t0
    # Objective: info.c is a (n_obj x n_col) csc_array; set_sense=minimize (default)
    # has already negated maximisation objectives.
    cost = info.c.toarray()[0]
    offset = float(info.c_offset[0])
    # Rows: RowEntry(constraint, bound_type); bound_type 0 -> '== rhs',
    # 1 -> '<= rhs', -1 -> '>= rhs' (mixed form does NOT negate rows).
    rhs = np.asarray(info.rhs, dtype=float)
    kind = np.fromiter((r.bound_type for r in info.rows), np.int8, len(info.rows))
    row_lower = np.where(kind <= 0, rhs, -INF)
    row_upper = np.where(kind >= 0, rhs, INF)
    # Column bounds / integrality are not part of the compiled form: read them
    # from the Pyomo VarData objects (fixed vars have already been eliminated).
    cols = info.columns
    bounds = [v.bounds for v in cols]
    col_lower = np.fromiter((-INF if lb is None else lb for lb, _ in bounds), float, len(cols))
    col_upper = np.fromiter((INF if ub is None else ub for _, ub in bounds), float, len(cols))
    integrality = np.fromiter((v.is_integer() for v in cols), np.int32, len(cols))
    A = info.A
    lp = ArrayLp(
        cost=cost,
        col_lower=col_lower,
        col_upper=col_upper,
        row_lower=row_lower,
        row_upper=row_upper,
        a_start=A.indptr.astype(np.int32, copy=False),
        a_index=A.indices.astype(np.int32, copy=False),
        a_value=A.data.astype(float, copy=False),
        integrality=integrality,
        offset=offset,
    )
    t_arrays = time.perf_counter() - t0 - t_compile
    h = new_highs(settings)
    _, t_pass = timed(lambda: pass_arrays(h, lp))
    t_handoff = time.perf_counter() - t0

    _, t_solve = timed(h.run)

    def load_back() -> None:
        sol = h.getSolution()
        if sol.value_valid:
            for v, val in zip(cols, sol.col_value, strict=True):
                v.set_value(val, skip_validation=True)

    _, t_load = timed(load_back)
    obj, bound, status = highs_summary(h)
    if not math.isnan(obj):
        obj = pyo.value(m.obj)  # recomputed from the loaded Pyomo values
    return RouteResult(
        "stdform+passModel",
        t_build,
        t_handoff,
        t_solve,
        t_load,
        obj,
        bound,
        status,
        {"compile": t_compile, "arrays": t_arrays, "passModel": t_pass},
    )


def route_contrib_highs(data: CflpData, settings: Settings) -> RouteResult:
    m, t_build = timed(lambda: build_pyomo(data))
    opt = pyo.SolverFactory("highs")  # legacy wrapper of pyomo.contrib.solver Highs
    timer = HierarchicalTimer()
    opt.config.timer = timer
    opts = highs_options(settings)
    time_limit = opts.pop("time_limit")
    results, t_all = timed(
        lambda: opt.solve(m, timelimit=time_limit, solver_options=opts, load_solutions=True)
    )
    t_handoff = timer_total(timer, "set_instance") + timer_total(timer, "update")
    t_solve = timer_total(timer, "optimize")
    t_load = t_all - t_handoff - t_solve
    feasible = m.y[0].value is not None
    return RouteResult(
        "highs (contrib.solver)",
        t_build,
        t_handoff,
        t_solve,
        t_load,
        pyo.value(m.obj) if feasible else math.nan,
        _float_or_nan(results.problem.lower_bound),
        str(results.solver.termination_condition),
        {"load solution": timer_total(timer, "load solution")},
    )


def route_appsi(data: CflpData, settings: Settings) -> RouteResult:
    m, t_build = timed(lambda: build_pyomo(data))
    opt = pyo.SolverFactory("appsi_highs")
    opts = highs_options(settings)
    opt.config.time_limit = opts.pop("time_limit")
    opt.config.load_solution = False
    opt.highs_options = opts
    timer = HierarchicalTimer()
    # The legacy SolverFactory wrapper hides the timer: call the native APPSI solve.
    native_solve = super(LegacySolverInterface, opt).solve
    results, t_all = timed(lambda: native_solve(m, timer=timer))

    def load_back() -> None:
        if results.best_feasible_objective is not None:
            results.solution_loader.load_vars()

    _, t_loadvars = timed(load_back)
    t_handoff = timer_total(timer, "set_instance") + timer_total(timer, "update")
    t_solve = timer_total(timer, "optimize")
    t_load = t_all - t_handoff - t_solve + t_loadvars
    return RouteResult(
        "appsi_highs",
        t_build,
        t_handoff,
        t_solve,
        t_load,
        pyo.value(m.obj) if results.best_feasible_objective is not None else math.nan,
        _float_or_nan(results.best_objective_bound),
        str(results.termination_condition.name),
        {"load_vars": t_loadvars},
    )


def route_lp_file(data: CflpData, settings: Settings) -> RouteResult:
    m, t_build = timed(lambda: build_pyomo(data))
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "x.lp")
        t0 = time.perf_counter()
        _, smap_id = m.write(path, io_options={"symbolic_solver_labels": False})
        t_write = time.perf_counter() - t0
        h = new_highs(settings)
        status, t_read = timed(lambda: h.readModel(path))
        if status != highspy.HighsStatus.kOk:
            raise RuntimeError(f"readModel returned {status}")
        t_handoff = time.perf_counter() - t0

    _, t_solve = timed(h.run)

    def load_back() -> None:
        sol = h.getSolution()
        if not sol.value_valid:
            return
        by_symbol = m.solutions.symbol_map[smap_id].bySymbol
        names = h.getLp().col_names_
        for name, val in zip(names, sol.col_value, strict=True):
            var = by_symbol.get(name)
            if var is not None:  # e.g. ONE_VAR_CONSTANT has no Pyomo var
                var.set_value(val, skip_validation=True)

    _, t_load = timed(load_back)
    obj, bound, hstatus = highs_summary(h)
    if not math.isnan(obj):
        obj = pyo.value(m.obj)
    return RouteResult(
        "lp-file+readModel",
        t_build,
        t_handoff,
        t_solve,
        t_load,
        obj,
        bound,
        hstatus,
        {"write": t_write, "readModel": t_read},
    )


def route_floor(data: CflpData, settings: Settings) -> RouteResult:
    lp, t_build = timed(lambda: build_arrays(data))
    h = new_highs(settings)
    _, t_handoff = timed(lambda: pass_arrays(h, lp))
    _, t_solve = timed(h.run)
    _, t_load = timed(lambda: np.asarray(h.getSolution().col_value))
    obj, bound, status = highs_summary(h)
    return RouteResult("numpy floor", t_build, t_handoff, t_solve, t_load, obj, bound, status)


def _float_or_nan(x: object) -> float:
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


ROUTES: dict[str, Callable[[CflpData, Settings], RouteResult]] = {
    "stdform": route_stdform,
    "highs": route_contrib_highs,
    "appsi": route_appsi,
    "lpfile": route_lp_file,
    "floor": route_floor,
}


# ------------------------------------------------------------------------- driver


def verify(routes: list[str], threads: int, seed: int) -> None:
    """Solve a 10x50 instance to optimality on every route; objectives must agree."""
    data = make_data(10, 50, seed)
    settings = Settings(time_limit=60.0, threads=threads, mip_rel_gap=0.0)
    results = [ROUTES[r](data, settings) for r in routes]
    ref = results[0].objective
    for res in results:
        rel = abs(res.objective - ref) / max(1.0, abs(ref))
        print(
            f"  check 10x50  {res.route:<24} obj={res.objective:.6f}  "
            f"status={res.status}  rel.diff={rel:.1e}"
        )
        if not rel <= 1e-6:
            raise SystemExit(f"objective mismatch on route {res.route}: {res.objective} vs {ref}")


def best_of(runs: list[RouteResult]) -> RouteResult:
    """Per-phase minimum over repeats; objective/bound/status from the last run."""
    last = runs[-1]
    keys = set().union(*(r.details for r in runs))
    return RouteResult(
        last.route,
        min(r.build for r in runs),
        min(r.handoff for r in runs),
        min(r.solve for r in runs),
        min(r.loadback for r in runs),
        last.objective,
        last.bound,
        last.status,
        {k: min(r.details.get(k, math.inf) for r in runs) for k in sorted(keys)},
    )


def print_table(rows: list[RouteResult]) -> None:
    head = (
        f"{'route':<24}{'build':>9}{'hand-off':>10}{'solve':>9}{'load-back':>11}"
        f"{'total':>9}  {'objective':>14}{'bound':>14}{'gap':>9}  status"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        gap = abs(r.objective - r.bound) / max(1e-10, abs(r.objective))
        print(
            f"{r.route:<24}{r.build:>9.3f}{r.handoff:>10.3f}{r.solve:>9.3f}"
            f"{r.loadback:>11.3f}{r.total:>9.3f}  {r.objective:>14.4f}{r.bound:>14.4f}"
            f"{gap:>9.2%}  {r.status}"
        )
    print("\nhand-off / load-back detail (s):")
    for r in rows:
        if r.details:
            detail = ", ".join(f"{k}={v:.3f}" for k, v in r.details.items())
            print(f"  {r.route:<24}{detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facilities", type=int, default=100)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=1, help="HiGHS 'threads' option")
    parser.add_argument(
        "--mip-gap",
        type=float,
        default=None,
        help="HiGHS mip_rel_gap (default: HiGHS default 1e-4)",
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--routes", nargs="+", choices=list(ROUTES), default=list(ROUTES))
    parser.add_argument(
        "--skip-check", action="store_true", help="skip the 10x50 objective cross-check"
    )
    args = parser.parse_args()

    if not args.skip_check:
        verify(args.routes, args.threads, args.seed)

    data = make_data(args.facilities, args.customers, args.seed)
    settings = Settings(args.time_limit, args.threads, args.mip_gap)
    n_col = args.facilities * (args.customers + 1)
    n_row = args.customers + args.facilities * (args.customers + 1)
    print(
        f"\nCFLP {args.facilities} x {args.customers} (seed {args.seed}): "
        f"{n_col} cols, {n_row} rows; time_limit={args.time_limit}s, "
        f"threads={args.threads}, repeat={args.repeat} (min per phase)\n"
    )
    rows = []
    for name in args.routes:
        runs = []
        for _ in range(args.repeat):
            gc.collect()  # don't bill one route for another route's garbage
            runs.append(ROUTES[name](data, settings))
        rows.append(best_of(runs))
    print_table(rows)


if __name__ == "__main__":
    main()
