"""Large constraint families stated as sparse rows over Pyomo variables.

Pyomo builds one expression object per term, and its compiler walks them all again; for the
families that run over every lane and scenario (balances, demand service, strong linking,
the scenario cost) that dominated build and hand-off time. A `RowBlock` states such a family
as arrays, `lower <= A x <= upper`, where the columns of `A` are the members of whole Pyomo
variable families in their declaration order. The variables stay Pyomo variables (the plan
reads them as before); `reshore.optimizer.solve.handoff.to_highs_lp` appends the blocks to the
rows it compiles from the Pyomo constraints, and `as_constraint` turns a block back into an
ordinary Pyomo `Constraint` for any other Pyomo writer.

The blocks of a model, and the variable families they run over, are listed in its
`models.built.BuiltModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.core.expr.numeric_expr import LinearExpression


@dataclass(frozen=True)
class RowBlock:
    """lower <= matrix @ x <= upper, x = the members of `families`, one after the other."""

    families: tuple[str, ...]
    matrix: sp.csr_matrix
    lower: np.ndarray
    """-inf where a row has no lower bound."""
    upper: np.ndarray
    """+inf where a row has no upper bound."""
    priority: np.ndarray | None = None
    """For a block of `<=` rows that are mostly slack at the optimum: each row's rank among
    the rows it competes with (1 = the most likely to bind). A solve that holds rows back
    keeps the rows ranked at most `SolveOptions.cheapest_sites_kept` in the LP and holds the
    others back; None: every row always stays in the LP."""

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def may_be_held_back(self) -> bool:
        return self.priority is not None

    def kept(self, rank_kept: int | None) -> np.ndarray:
        """The rows that stay in the LP when the solve keeps the rows ranked up to
        `rank_kept` (None: it holds nothing back)."""
        if self.priority is None or rank_kept is None:
            return np.ones(self.rows, dtype=bool)
        return np.asarray(self.priority <= rank_kept)


class Rows:
    """Collects the terms of a row block, family by family."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._terms: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, family: str, rows: Any, columns: Any, coefficients: Any) -> Rows:
        """Terms `coefficients[i] * family[columns[i]]` in rows `rows[i]` (zeros are dropped;
        repeated (row, column) pairs add up)."""
        rows = np.asarray(rows, dtype=np.int64)
        columns = np.asarray(columns, dtype=np.int64)
        values = np.broadcast_to(np.asarray(coefficients, dtype=float), rows.shape)
        keep = values != 0
        self._terms.append((family, rows[keep], columns[keep], values[keep]))
        return self

    def block(self, sizes: Mapping[str, int], lower: Any, upper: Any,
              priority: np.ndarray | None = None) -> RowBlock:
        """The collected terms as a block; `sizes` gives each family's number of members."""
        families: list[str] = []
        for family, *_ in self._terms:
            if family not in families:
                families.append(family)
        offset, width = {}, 0
        for family in families:
            offset[family] = width
            width += sizes[family]
        rows = np.concatenate([r for _, r, _, _ in self._terms] or [np.zeros(0, np.int64)])
        cols = np.concatenate([c + offset[f] for f, _, c, _ in self._terms]
                              or [np.zeros(0, np.int64)])
        values = np.concatenate([v for *_, v in self._terms] or [np.zeros(0)])
        matrix = sp.csr_matrix((values, (rows, cols)), shape=(self.count, width))
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        shape = (self.count,)
        return RowBlock(families=tuple(families), matrix=matrix,
                        lower=np.broadcast_to(np.asarray(lower, dtype=float), shape).copy(),
                        upper=np.broadcast_to(np.asarray(upper, dtype=float), shape).copy(),
                        priority=priority)


def as_constraint(columns: list[Any], block: RowBlock) -> Any:
    """The block as an ordinary Pyomo `Constraint` indexed 0..rows-1, over `columns` (the
    block's variables in column order: `BuiltModel.block_columns`). Slow on large blocks;
    for writers other than `to_highs_lp` and for tests."""
    matrix = block.matrix

    def rule(_m: Any, i: int) -> Any:
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        body = LinearExpression(
            linear_coefs=[float(a) for a in matrix.data[start:end]],
            linear_vars=[columns[j] for j in matrix.indices[start:end]])
        lower = None if np.isneginf(block.lower[i]) else float(block.lower[i])
        upper = None if np.isposinf(block.upper[i]) else float(block.upper[i])
        if lower is not None and lower == upper:
            return body == lower
        return (lower, body, upper)

    return pyo.Constraint(range(block.rows), rule=rule)
