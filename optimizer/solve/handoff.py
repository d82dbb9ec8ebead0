"""The hand-off: a built model compiled to one `HighsLp`, with the rows held back apart.

Route: Pyomo's `LinearStandardFormCompiler` turns the Pyomo constraints and objective into
sparse arrays, the model's row blocks (`models.linear_rows`) are appended as they are, and
the whole is handed to `highspy` in one `passModel` call (measured faster than
`SolverFactory('highs')` and the LP-file route: see `bench/routes.py`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
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
    arrays: LpArrays
    """The same model as arrays (restricted solves and the relaxation load it from these)."""
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


class _Columns:
    """The columns of the lp: the variables the Pyomo rows read, in the compiler's order, then
    the other members of each family a row block reads, block after block, each family's in
    declaration order. Bounds and integrality are read family by family (`_family_bounds`)."""

    def __init__(self, built: BuiltModel, compiled: list[Any]) -> None:
        self.variables = list(compiled)
        self._families = built.families
        self._appended: list[tuple[str, np.ndarray]] = []
        self._members_of: dict[str, list[Any]] = {}
        """(family, positions of its members appended as columns), in column order."""
        by_component = {id(family.variable): name for name, family in built.families.items()}
        self._compiled_family: list[str | None] = []
        self._compiled_position = np.zeros(len(compiled), dtype=np.int64)
        self.of: dict[str, np.ndarray] = {}
        """family -> the column of each member (-1: not a column)."""
        for i, v in enumerate(compiled):
            name = by_component.get(id(v.parent_component()))
            self._compiled_family.append(name)
            if name is None:
                continue
            position = v.parent_component().index_set().ord(v.index()) - 1
            self._compiled_position[i] = position
            self._member_columns(name)[position] = i
        for block in built.blocks.values():
            for name in block.families:
                columns = self._member_columns(name)
                new = np.flatnonzero(columns < 0)
                if new.size:
                    columns[new] = np.arange(len(self.variables), len(self.variables) + new.size)
                    members = self._members(name)
                    self.variables.extend(members[j] for j in new)
                    self._appended.append((name, new))

    def _members(self, name: str) -> list[Any]:
        if name not in self._members_of:
            self._members_of[name] = self._families[name].members()
        return self._members_of[name]

    def _member_columns(self, name: str) -> np.ndarray:
        if name not in self.of:
            self.of[name] = np.full(self._families[name].size, -1, dtype=np.int64)
        return self.of[name]

    def block_columns(self, families: tuple[str, ...]) -> np.ndarray:
        """The column of each column of a row block over `families`."""
        return np.concatenate([self.of[f] for f in families] or [np.zeros(0, np.int64)])

    def attributes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lower and upper bound and integrality of every column."""
        read = {name: _family_bounds(self._members(name)) for name in self.of}
        compiled = len(self._compiled_family)
        lower, upper = np.zeros(len(self.variables)), np.zeros(len(self.variables))
        integer = np.zeros(len(self.variables), dtype=bool)
        outside = [i for i, name in enumerate(self._compiled_family) if name is None]
        if outside:
            lower[outside], upper[outside], integer[outside] = _column_bounds(
                [self.variables[i] for i in outside])
        names = np.array([name or "" for name in self._compiled_family], dtype=object)
        for name in read:
            mine = np.flatnonzero(names == name)
            if mine.size:
                j = self._compiled_position[mine]
                lower[mine], upper[mine], integer[mine] = (part[j] for part in read[name])
        start = compiled
        for name, positions in self._appended:
            end = start + positions.size
            lower[start:end], upper[start:end], integer[start:end] = (
                part[positions] for part in read[name])
            start = end
        return lower, upper, integer


def _column_bounds(columns: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper bound (+-inf where there is none) and integrality of each column,
    variable by variable; a fixed variable is bounded by its value."""
    inf = highspy.kHighsInf
    bounds = [(v.value, v.value) if v.fixed else v.bounds for v in columns]
    lower = np.fromiter((-inf if lb is None else lb for lb, _ in bounds), float, len(bounds))
    upper = np.fromiter((inf if ub is None else ub for _, ub in bounds), float, len(bounds))
    return lower, upper, np.fromiter((v.is_integer() for v in columns), bool, len(columns))


def _family_bounds(members: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_column_bounds` of one variable family read as arrays: Pyomo's `bounds` property
    costs about a microsecond per variable, a million variables a second. This reads the
    bounds each variable stores (None or a number, as `setlb`/`setub` leave them) and the
    family's one domain, and falls back to `_column_bounds` for anything else (a domain
    per variable, a bound given by an expression)."""
    if not members:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    try:
        domains = {id(v._domain): v._domain for v in members}
        if len(domains) != 1:
            return _column_bounds(members)
        lower = np.array([v._lb for v in members], dtype=float)  # None -> nan
        upper = np.array([v._ub for v in members], dtype=float)
        fixed = np.fromiter((v._fixed for v in members), bool, len(members))
    except (AttributeError, TypeError, ValueError):
        return _column_bounds(members)
    domain_lower, domain_upper = next(iter(domains.values())).bounds()
    inf = highspy.kHighsInf
    lower = np.fmax(np.nan_to_num(lower, nan=-inf),
                    -inf if domain_lower is None else domain_lower)
    upper = np.fmin(np.nan_to_num(upper, nan=inf), inf if domain_upper is None else domain_upper)
    if fixed.any():
        values = np.array([members[i].value for i in np.flatnonzero(fixed)], dtype=float)
        lower[fixed] = upper[fixed] = values
    integer = np.full(len(members), bool(members[0].is_integer()))
    return lower, upper, integer


@dataclass(frozen=True)
class LpArrays:
    """The compiled model as the arrays highspy's `passModel` takes: a fresh HiGHS instance
    is loaded from them without converting a `HighsLp` element by element."""

    cost: np.ndarray
    offset: float
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    matrix: sp.csc_matrix
    integer: np.ndarray
    """Whether each column is integer."""

    def pass_to(self, h: highspy.Highs) -> None:
        """Load the model into `h`."""
        matrix = self.matrix
        status = h.passModel(
            self.cost.size, self.row_lower.size, matrix.nnz,
            int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize), self.offset,
            self.cost, self.col_lower, self.col_upper, self.row_lower, self.row_upper,
            matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32),
            matrix.data.astype(float), self.integer.astype(np.int32))
        if status == highspy.HighsStatus.kError:
            raise ValueError("HiGHS refuses the compiled model")

    def rows_equilibrated(self) -> LpArrays:
        """The same model with each row (and its bounds) divided by its largest absolute
        coefficient. The columns, the objective, and so every solution and its objective,
        are unchanged; only row duals and activities are scaled. HiGHS's interior point
        solver (IPX) gets through such an LP far sooner: on synthetic L seed 1, whose rows
        hold coefficients from 1 to 1.5e6 (capacity hours, strong linking by demand, the
        horizon's need of an unlimited offer), it built its starting basis in 6 s against
        more than 250 s for the LP as compiled (load average about 4 on 2 cores)."""
        largest = np.zeros(self.row_lower.size)
        np.maximum.at(largest, self.matrix.indices, np.abs(self.matrix.data))
        factor = 1.0 / np.where(largest > 0, largest, 1.0)
        matrix = sp.csc_matrix((self.matrix.data * factor[self.matrix.indices],
                                self.matrix.indices, self.matrix.indptr),
                               shape=self.matrix.shape)
        return replace(self, row_lower=self.row_lower * factor,
                       row_upper=self.row_upper * factor, matrix=matrix)


def _highs_lp(arrays: LpArrays) -> highspy.HighsLp:
    """The arrays as a `HighsLp`. They go through highspy's `passModel` for numpy arrays and
    come back with `getLp`: setting the `HighsLp` fields from Python converts element by
    element, about a second per five million nonzeros. (The first Highs of the process is
    made by `quiet_highs`, so that HiGHS's banner stays off standard output.)"""
    h = quiet_highs()
    h.setOptionValue("output_flag", False)
    arrays.pass_to(h)
    lp: highspy.HighsLp = h.getLp()
    if not arrays.integer.any():
        lp.integrality_ = []
    return lp


def _compile(built: BuiltModel, rank_kept: int | None) -> HandOff:
    form = LinearStandardFormCompiler().write(built.model, mixed_form=True)
    layout = _Columns(built, list(form.columns))
    columns = layout.variables
    n = len(columns)
    compiled = np.arange(len(form.columns))

    def spread(matrix: Any, to: np.ndarray) -> Any:
        matrix = matrix.tocsr()
        return sp.csr_matrix((matrix.data, to[matrix.indices], matrix.indptr),
                             shape=(matrix.shape[0], n))

    inf = highspy.kHighsInf
    sense = np.fromiter((row.bound_type for row in form.rows), int, len(form.rows))
    rhs = np.asarray(form.rhs, dtype=float)
    parts = [spread(form.A, compiled)] if len(form.rows) else []
    row_lower = [np.where(sense == 1, -inf, rhs)]
    row_upper = [np.where(sense == -1, inf, rhs)]
    held_parts, held_upper = [], []
    block_rows: dict[str, np.ndarray] = {}
    for name, block in built.blocks.items():
        whole = spread(block.matrix, layout.block_columns(block.families))
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

    objective = np.zeros(n)
    if form.c.shape[0]:
        cost = form.c.tocsr()
        np.add.at(objective, compiled[cost.indices], cost.data)
    offset = float(form.c_offset[0]) if len(form.c_offset) else 0.0
    col_lower, col_upper, integer = layout.attributes()
    arrays = LpArrays(cost=objective, offset=offset, col_lower=col_lower, col_upper=col_upper,
                      row_lower=np.concatenate(row_lower), row_upper=np.concatenate(row_upper),
                      matrix=matrix, integer=integer)
    return HandOff(lp=_highs_lp(arrays), arrays=arrays, columns=columns, offset=offset,
                   integers=int(integer.sum()),
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
