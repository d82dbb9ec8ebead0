"""LP rounds with held-back rows: solve the relaxation, add the held-back rows it violates,
repeat; then the MIP, solved again while its answer violates a held-back row. The answer is
that of the full model (see docs/formulation.md, "How the model reaches HiGHS")."""

from __future__ import annotations

import time
from collections.abc import Callable

import highspy
import numpy as np

from reshore.optimizer.solve.handoff import HeldBack
from reshore.optimizer.solve.options import SolveOptions


def add_violated_rows(h: highspy.Highs, held: HeldBack, added: np.ndarray) -> int:
    """Add to HiGHS the held-back rows that its current solution violates and that are not in
    yet; return how many were added."""
    x = np.asarray(h.getSolution().col_value, dtype=float)
    rows = held.violated(x)
    rows = rows[~added[rows]]
    if rows.size:
        block = held.matrix[rows]
        h.addRows(len(rows), np.full(len(rows), -highspy.kHighsInf), held.upper[rows],
                  block.nnz, block.indptr[:-1].astype(np.int32), block.indices.astype(np.int32),
                  block.data.astype(float))
        added[rows] = True
    return int(rows.size)


def lp_rounds(h: highspy.Highs, held: HeldBack, added: np.ndarray,
              options: SolveOptions, started: float) -> float:
    """Solve the relaxation and add the held-back rows it violates, round after round, until
    none is violated, a round barely moves the bound (`options.min_round_gain`),
    `options.max_lp_rounds` rounds or `options.lp_rounds_share` of the time limit. Returns
    the last round's bound (-inf when no round finished)."""
    h.setOptionValue("solve_relaxation", True)
    h.setOptionValue("solver", options.root_lp_solver)
    bound, first_round = -np.inf, True
    for _ in range(options.max_lp_rounds):
        if options.time_limit_s is not None and (
                time.perf_counter() - started > options.lp_rounds_share * options.time_limit_s):
            break
        h.run()
        if first_round:
            first_round = False
            h.setOptionValue("solver", "simplex")
            if h.getModelStatus() == highspy.HighsModelStatus.kUnknown:
                h.run()  # interior point without a clean crossover: simplex once more
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        previous, bound = bound, h.getInfo().objective_function_value
        if (add_violated_rows(h, held, added) == 0
                or bound - previous < options.min_round_gain * max(1.0, abs(bound))):
            break
    h.setOptionValue("solve_relaxation", False)
    h.setOptionValue("solver", "choose")
    return float(bound)


def solve_with_held_back_rows(h: highspy.Highs, held: HeldBack, options: SolveOptions,
                              log: list[str], give_start: Callable[[], None]) -> float:
    """The LP rounds, then the MIP (`give_start` hands HiGHS the MIP start, if any, just
    before it), re-solved while its answer violates a held-back row.
    Returns the last LP round's bound, a valid lower bound of the whole model (-inf when no
    round finished)."""
    started = time.perf_counter()
    added = np.zeros(held.upper.size, dtype=bool)
    bound = lp_rounds(h, held, added, options, started)
    log.append(f"strong linking: {int(added.sum())} of {added.size} rows added by the LP"
               f" rounds in {time.perf_counter() - started:.1f} s")
    give_start()
    while True:
        if options.time_limit_s is not None:
            left = options.time_limit_s - (time.perf_counter() - started)
            h.setOptionValue("time_limit", max(left, 1e-3))
        h.run()
        if h.getInfo().primal_solution_status != 2:
            return bound
        count = add_violated_rows(h, held, added)
        if count == 0:
            return bound
        log.append(f"strong linking: the MIP answer violated {count} held-back rows;"
                   " added them, solving again")
