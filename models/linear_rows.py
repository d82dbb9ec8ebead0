"""Large constraint families stated as sparse rows over Pyomo variables.

Pyomo builds one expression object per term, and its compiler walks them all again; for the
families that run over every lane and scenario (balances, demand service, strong linking,
the scenario cost) that dominated build and hand-off time. A `RowBlock` states such a family
as arrays, `lower <= A x <= upper`, where the columns of `A` are the members of whole Pyomo
variable families in their declaration order. The variables stay Pyomo variables (the plan
reads them as before); `reshore.optimizer.solve.to_highs_lp` appends the blocks to the rows it
compiles from the Pyomo constraints, and `as_constraint` turns a block back into an ordinary
Pyomo `Constraint` for any other Pyomo writer.

Every model keeps its blocks in `model.row_blocks` (name -> block) and the index of each
variable family in `model.variable_keys` (name -> frame of its key columns with `position`,
the member's place in the family).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.core.expr.numeric_expr import LinearExpression

Model = Any
"""A `pyomo.environ.ConcreteModel` (Pyomo ships no type information)."""


@dataclass(frozen=True)
class RowBlock:
    """lower <= matrix @ x <= upper, x = the members of `families`, one after the other."""

    families: tuple[str, ...]
    matrix: sp.csr_matrix
    lower: np.ndarray
    """-inf where a row has no lower bound."""
    upper: np.ndarray
    """+inf where a row has no upper bound."""
    kept: np.ndarray | None = None
    """Rows that stay in the LP even when the solve holds the block back (None: none)."""

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])

    def columns(self, model: Model) -> list[Any]:
        """The Pyomo variables of the block's columns, in column order."""
        return [v for family in self.families for v in getattr(model, family).values()]


def start(model: Model) -> None:
    """Give a new model its (empty) registries of row blocks and variable keys."""
    model.row_blocks = {}
    model.variable_keys = {}


def declare(model: Model, name: str, index: str, keys: pd.DataFrame, **var_options: Any) -> None:
    """Declare the variable family `name`, indexed by the Pyomo set `index` made of the rows
    of `keys` (in that order), and record where each key sits in it."""
    columns = list(keys.columns)
    frame = keys.reset_index(drop=True)
    tuples = list(zip(*(frame[c].tolist() for c in columns), strict=True)) if columns else []
    if len(columns) == 1:
        tuples = [key[0] for key in tuples]
    setattr(model, index, pyo.Set(initialize=tuples, dimen=len(columns)))
    setattr(model, name, pyo.Var(getattr(model, index), **var_options))
    model.variable_keys[name] = frame.assign(position=np.arange(len(frame)))


def positions(model: Model, family: str, wanted: pd.DataFrame) -> np.ndarray:
    """Position in `family` of each row of `wanted` (matched on its columns); every row must
    name an existing member."""
    keys = model.variable_keys[family]
    found = wanted.merge(keys, on=list(wanted.columns), how="left", sort=False)["position"]
    if found.isna().any():
        missing = wanted[found.isna().to_numpy()].head(1).to_dict("records")
        raise KeyError(f"no {family} variable for {missing}")
    return found.to_numpy(dtype=np.int64)


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

    def block(self, model: Model, lower: Any, upper: Any,
              kept: np.ndarray | None = None) -> RowBlock:
        families: list[str] = []
        for family, *_ in self._terms:
            if family not in families:
                families.append(family)
        offset, width = {}, 0
        for family in families:
            offset[family] = width
            width += len(getattr(model, family))
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
                        kept=kept)


def add_block(model: Model, name: str, rows: Rows, lower: Any, upper: Any,
              kept: np.ndarray | None = None) -> None:
    """Register the rows collected in `rows` as the family `name` of the model (`kept`: the
    rows that stay in the LP when the solve holds the family back)."""
    if rows.count:
        model.row_blocks[name] = rows.block(model, lower, upper, kept)


def as_constraint(model: Model, block: RowBlock) -> Any:
    """The block as an ordinary Pyomo `Constraint` indexed 0..rows-1 (slow on large blocks;
    for writers other than `to_highs_lp` and for tests)."""
    columns = block.columns(model)
    matrix = block.matrix

    def rule(_m: Model, i: int) -> Any:
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
