"""What `models.network_design.build` hands to the solve: the Pyomo model and, beside it, the
typed description of what is in it.

A `BuiltModel` holds the Pyomo model, each variable family with its keys and the plan table
it feeds, the row blocks (`models.linear_rows`) with the rows that may be held back from the
LP, and, in the elastic model, the slacks that price each violated requirement. The solve,
the plan tables and the infeasibility diagnosis read this object; nothing is hung on the
Pyomo model and nothing is found by its name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from reshore.models.linear_rows import RowBlock, Rows

Model = Any
"""A `pyomo.environ.ConcreteModel` (Pyomo ships no type information)."""


class MemberKeys(Sequence[Any]):
    """The keys of a variable family's members in declaration order, as the index of its Pyomo
    `Var` (through `pyomo.environ.SetOf`, which makes it an ordered Pyomo set).

    A Pyomo `Set` checks and normalises every key as it is added; these keys come from the
    prepared key frames, already flat tuples (or scalars for one key column) and unique, so
    they are taken as they are. Membership and a key's position are dictionary look-ups (the
    positions are only laid out when first asked for: most families never are)."""

    def __init__(self, keys: list[Any], family: str) -> None:
        self._keys = keys
        self._members = dict.fromkeys(keys)
        if len(self._members) != len(keys):
            twice = int(np.argmax(pd.Series(keys).duplicated().to_numpy()))
            raise ValueError(f"variable family {family}: key {keys[twice]!r} appears more than"
                             " once")
        self._positions: dict[Any, int] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        return self._keys[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._keys)

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._members
        except TypeError:  # an unhashable key is no member
            return False

    def index(self, key: Any, start: int = 0, stop: Any = None) -> int:
        """The position of `key` (0-based); ValueError when it is no member."""
        if self._positions is None:
            self._positions = dict(zip(self._keys, range(len(self._keys)), strict=True))
        try:
            position = self._positions[key]
        except (KeyError, TypeError):
            raise ValueError(f"{key!r} is not a member") from None
        if position < start or (stop is not None and position >= stop):
            raise ValueError(f"{key!r} is not a member between {start} and {stop}")
        return position


@dataclass(frozen=True)
class VariableFamily:
    """One Pyomo variable family: its members in declaration order and the key of each."""

    name: str
    variable: Any
    """The Pyomo `Var`."""
    keys: pd.DataFrame
    """One row per member, in declaration order: the key columns and `position`."""
    table: str | None
    """The plan table its values feed (`optimizer.results.TABLE_COLUMNS`); None for the
    model's own auxiliaries (linking variables, slacks, risk terms)."""

    @property
    def size(self) -> int:
        return len(self.keys)

    @property
    def key_columns(self) -> list[str]:
        return [c for c in self.keys.columns if c != "position"]

    def members(self) -> list[Any]:
        """The Pyomo variables, in declaration order."""
        return list(self.variable.values())

    def solution(self) -> pd.DataFrame:
        """The key columns plus `quantity`, the solved value of each member (0 when unset)."""
        values = np.fromiter((v.value if v.value is not None else 0.0
                              for v in self.variable.values()), float, self.size)
        return self.keys[self.key_columns].assign(quantity=values)


@dataclass(frozen=True)
class ElasticSlack:
    """In the elastic model, the priced slack of one requirement: how far the plan falls
    short of it (units of unmet demand, share or count of a policy)."""

    requirement: str
    """The requirement it relaxes: `demand` or the policy's name (policies.policy)."""
    family: VariableFamily
    """The slack variables; a policy's keys start with `policy_row` (0-based policies row)."""


@dataclass(frozen=True)
class Limit:
    """Rows that cap a resource (site capacity, supplier capacity) or state a policy: the
    infeasibility diagnosis names them when relaxing them would shrink what falls short.
    The rows are a Pyomo `Constraint` or the row block named `requirement`."""

    requirement: str
    """`site_capacity`, `supplier_capacity` or the policy's name (policies.policy)."""
    constraint: Any
    """The Pyomo `Constraint`; None when the rows are a row block."""
    key_columns: tuple[str, ...]
    """What each part of a row's index is (a policy's starts with `policy_row`)."""
    keys: pd.DataFrame | None = None
    """For a row block: the index of each of its rows, by `key_columns`."""

    def row_keys(self) -> list[tuple[Any, ...]]:
        """The index of each row, in the order of the rows."""
        if self.keys is not None:
            return list(self.keys[list(self.key_columns)].itertuples(index=False, name=None))
        return [key if isinstance(key, tuple) else (key,) for key in self.constraint]


@dataclass
class BuiltModel:
    """The Pyomo model of one prepared network and the typed map of its contents (see the
    module docstring). `build` fills it, one `define_*` function after the other."""

    model: Model
    elastic: bool
    families: dict[str, VariableFamily] = field(default_factory=dict)
    blocks: dict[str, RowBlock] = field(default_factory=dict)
    slacks: list[ElasticSlack] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)

    def declare(self, name: str, index: str, keys: pd.DataFrame, *, table: str | None,
                **var_options: Any) -> VariableFamily:
        """Declare the variable family `name`, indexed by the Pyomo set `index` made of the
        rows of `keys` (in that order, which must be unique: `MemberKeys`), and record it
        with the plan table it feeds."""
        columns = list(keys.columns)
        frame = keys.reset_index(drop=True)
        tuples: list[Any] = list(zip(*(frame[c].tolist() for c in columns), strict=True)) \
            if columns else []
        if len(columns) == 1:
            tuples = [key[0] for key in tuples]
        index_set = pyo.SetOf(MemberKeys(tuples, name))
        variable = pyo.Var(index_set, **var_options)
        self.model.add_component(index, index_set)
        self.model.add_component(name, variable)
        family = VariableFamily(name=name, variable=variable,
                                keys=frame.assign(position=np.arange(len(frame))), table=table)
        self.families[name] = family
        return family

    def declare_slack(self, requirement: str, keys: pd.DataFrame) -> VariableFamily:
        """An elastic slack (>= 0) of `requirement` over the rows of `keys`."""
        name = f"{requirement}_violation"
        family = self.declare(name, f"{name}_keys", keys, table=None,
                              domain=pyo.NonNegativeReals)
        self.slacks.append(ElasticSlack(requirement=requirement, family=family))
        return family

    def add_limit(self, requirement: str, key_columns: list[str], constraint: Any) -> None:
        """Add `constraint` to the model under the name `requirement`, as a `Limit`."""
        self.model.add_component(requirement, constraint)
        self.limits.append(Limit(requirement=requirement, constraint=constraint,
                                 key_columns=tuple(key_columns)))

    def add_limit_block(self, requirement: str, keys: pd.DataFrame, rows: Rows, lower: Any,
                        upper: Any) -> None:
        """Register the rows collected in `rows` as the row block `requirement` and as a
        `Limit`, the index of row i being row i of `keys`."""
        self.add_block(requirement, rows, lower, upper)
        self.limits.append(Limit(requirement=requirement, constraint=None,
                                 key_columns=tuple(keys.columns),
                                 keys=keys.reset_index(drop=True)))

    def var(self, family: str) -> Any:
        """The Pyomo `Var` of a family."""
        return self.families[family].variable

    def positions(self, family: str, wanted: pd.DataFrame) -> np.ndarray:
        """Position in `family` of each row of `wanted` (matched on its columns); every row
        must name an existing member."""
        keys = self.families[family].keys
        found = wanted.merge(keys, on=list(wanted.columns), how="left", sort=False)["position"]
        if found.isna().any():
            missing = wanted[found.isna().to_numpy()].head(1).to_dict("records")
            raise KeyError(f"no {family} variable for {missing}")
        return found.to_numpy(dtype=np.int64)

    def add_block(self, name: str, rows: Rows, lower: Any, upper: Any,
                  priority: np.ndarray | None = None) -> None:
        """Register the rows collected in `rows` as the row block `name` (`priority`: see
        `RowBlock.priority`)."""
        if rows.count:
            sizes = {name: family.size for name, family in self.families.items()}
            self.blocks[name] = rows.block(sizes, lower, upper, priority)

    def block_columns(self, block: RowBlock) -> list[Any]:
        """The Pyomo variables of a block's columns, in column order."""
        return [v for family in block.families for v in self.families[family].members()]
