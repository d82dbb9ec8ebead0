"""The hand-off: a built model compiled to one `HighsLp`, with the rows held back apart.

Route: Pyomo's `LinearStandardFormCompiler` turns the Pyomo constraints and objective into
sparse arrays, the model's row blocks (`models.linear_rows`) are appended as they are, and
the whole is handed to `highspy` in one `passModel` call (measured faster than
`SolverFactory('highs')` and the LP-file route: see `bench/routes.py`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp
from pyomo.common.gc_manager import PauseGC
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from reshore.models.built import BuiltModel


@dataclass
class HeldBack:
    """Rows of the model kept out of the LP handed to HiGHS: A x <= upper (CSR)."""

    matrix: Any
    upper: np.ndarray

    def violated(self, x: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
        """Indices of the held-back rows that `x` violates by more than `tolerance` times the
        row's largest coefficient (HiGHS's own integrality and feasibility tolerances let a
        binary sit 1e-6 off its value, which moves such a row by that much)."""
        if self.upper.size == 0:
            return np.zeros(0, dtype=np.int64)
        excess = self.matrix @ x - self.upper
        scale = np.maximum(1.0, abs(self.matrix).max(axis=1).toarray().ravel())
        return np.flatnonzero(excess > tolerance * np.maximum(scale, np.abs(self.upper)))


@dataclass
class HandOff:
    """A built model as HiGHS sees it."""

    lp: highspy.HighsLp
    columns: list[Any]
    """The Pyomo variable of each column."""
    offset: float
    """The objective's constant."""
    integers: int
    """Number of integer columns."""
    held: HeldBack
    """The rows held back from `lp`."""
    constraint_rows: list[Any]
    """The Pyomo constraint (data object) of each of the first rows of `lp`."""
    block_rows: dict[str, np.ndarray]
    """Each row block's rows that follow in `lp`, by their index in the block."""

    def block_lp_rows(self, name: str) -> np.ndarray:
        """The rows of `lp` that hold the kept rows of block `name` (in `block_rows` order)."""
        start = len(self.constraint_rows)
        for block, rows in self.block_rows.items():
            if block == name:
                return np.arange(start, start + rows.size)
            start += rows.size
        raise KeyError(f"no row block {name!r} in the hand-off")

    def row_origins(self) -> list[tuple[str, Any]]:
        """(family, index in the family) of every row of `lp`: a Pyomo constraint's name and
        index, or a row block's name and row number."""
        origins = [(row.parent_component().local_name, row.index())
                   for row in self.constraint_rows]
        for name, rows in self.block_rows.items():
            origins += [(name, int(i)) for i in rows]
        return origins


def to_highs_lp(built: BuiltModel, rank_kept: int | None = None) -> HandOff:
    """Compile a built model to a `HighsLp`.

    The Pyomo constraints and objective go through Pyomo's `LinearStandardFormCompiler`; the
    row blocks are appended as they are. With `rank_kept`, the rows of blocks that may be
    held back (`RowBlock.priority`) and are ranked beyond it are left out of the lp and
    returned apart."""
    with PauseGC():
        return _compile(built, rank_kept)


def _family_columns(built: BuiltModel, columns: list[Any]) -> dict[str, np.ndarray]:
    """The column of each member of each family a row block reads; members that no Pyomo
    row reads are appended to `columns`."""
    column_of = {id(v): i for i, v in enumerate(columns)}
    family_columns: dict[str, np.ndarray] = {}
    for block in built.blocks.values():
        for family in block.families:
            if family in family_columns:
                continue
            members = built.families[family].members()
            found = np.fromiter((column_of.get(id(v), -1) for v in members), np.int64,
                                len(members))
            new = np.flatnonzero(found < 0)
            found[new] = np.arange(len(columns), len(columns) + new.size)
            columns.extend(members[i] for i in new)
            family_columns[family] = found
    return family_columns


def _compile(built: BuiltModel, rank_kept: int | None) -> HandOff:
    form = LinearStandardFormCompiler().write(built.model, mixed_form=True)
    columns = list(form.columns)
    family_columns = _family_columns(built, columns)
    n = len(columns)

    def widened(matrix: Any) -> Any:
        matrix = matrix.tocsr()
        matrix.resize((matrix.shape[0], n))
        return matrix

    def block_matrix(families: tuple[str, ...], matrix: Any) -> Any:
        spread = np.concatenate([family_columns[f] for f in families])
        return sp.csr_matrix((matrix.data, spread[matrix.indices], matrix.indptr),
                             shape=(matrix.shape[0], n))

    inf = highspy.kHighsInf
    sense = np.fromiter((row.bound_type for row in form.rows), int, len(form.rows))
    rhs = np.asarray(form.rhs, dtype=float)
    parts = [widened(form.A)] if len(form.rows) else []
    row_lower = [np.where(sense == 1, -inf, rhs)]
    row_upper = [np.where(sense == -1, inf, rhs)]
    held_parts, held_upper = [], []
    block_rows: dict[str, np.ndarray] = {}
    for name, block in built.blocks.items():
        whole = block_matrix(block.families, block.matrix)
        lower, upper = block.lower, block.upper
        kept = block.kept(rank_kept)
        if not kept.all():
            if not np.isneginf(block.lower).all():
                raise ValueError(f"only <= rows can be held back; {name} has lower bounds")
            held_parts.append(whole[~kept])
            held_upper.append(block.upper[~kept])
            whole, lower, upper = whole[kept], lower[kept], upper[kept]
        block_rows[name] = np.flatnonzero(kept)
        parts.append(whole)
        row_lower.append(np.where(np.isneginf(lower), -inf, lower))
        row_upper.append(np.where(np.isposinf(upper), inf, upper))
    matrix = sp.vstack(parts, format="csc") if parts else sp.csc_matrix((0, n))
    held = HeldBack(
        matrix=sp.vstack(held_parts, format="csr") if held_parts else sp.csr_matrix((0, n)),
        upper=np.concatenate(held_upper) if held_upper else np.zeros(0))

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, int(matrix.shape[0])
    objective = np.zeros(n)
    if form.c.shape[0]:
        objective[:form.c.shape[1]] = form.c.toarray().ravel()
    lp.col_cost_ = objective
    offset = float(form.c_offset[0]) if len(form.c_offset) else 0.0
    lp.offset_ = offset
    lp.col_lower_ = np.fromiter((-inf if v.lb is None else v.lb for v in columns), float, n)
    lp.col_upper_ = np.fromiter((inf if v.ub is None else v.ub for v in columns), float, n)
    lp.row_lower_ = np.concatenate(row_lower)
    lp.row_upper_ = np.concatenate(row_upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    integer = np.fromiter((v.is_integer() for v in columns), bool, n)
    if integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in integer]
    return HandOff(lp=lp, columns=columns, offset=offset, integers=int(integer.sum()),
                   held=held, constraint_rows=[row.constraint for row in form.rows],
                   block_rows=block_rows)


_banner_shown = False


def quiet_highs() -> highspy.Highs:
    """A Highs instance; the banner HiGHS prints once per process on standard output is
    swallowed so that `--json` output stays clean."""
    global _banner_shown
    if _banner_shown:
        return highspy.Highs()  # type: ignore[no-untyped-call]
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with Path(os.devnull).open("w") as sink:
            os.dup2(sink.fileno(), 1)
            h = highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        _banner_shown = True
    return h
