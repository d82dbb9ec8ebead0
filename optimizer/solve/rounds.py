"""LP rounds with held-back rows: solve the relaxation, add the held-back rows it violates,
repeat. The MIP after them (`optimizer.solve.phases`) is solved again while its answer
violates a held-back row, so the answer is that of the full model (see docs/formulation.md,
"How the model reaches HiGHS")."""

from __future__ import annotations

import time

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
              options: SolveOptions, started: float) -> tuple[float, np.ndarray | None]:
    """Solve the relaxation and add the held-back rows it violates, round after round, until
    none is violated, a round barely moves the bound (`options.min_round_gain`),
    `options.max_lp_rounds` rounds or `options.lp_rounds_share` of the time limit (with no
    row held back: one LP solve). Returns the last round's bound (-inf when no round
    finished) and its solution (None then)."""
    h.setOptionValue("solve_relaxation", True)
    h.setOptionValue("solver", options.root_lp_solver)
    bound, first_round, solution = -np.inf, True, None
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
        solution = np.asarray(h.getSolution().col_value, dtype=float)
        if (add_violated_rows(h, held, added) == 0
                or bound - previous < options.min_round_gain * max(1.0, abs(bound))):
            break
    h.setOptionValue("solve_relaxation", False)
    h.setOptionValue("solver", "choose")
    return float(bound), solution
