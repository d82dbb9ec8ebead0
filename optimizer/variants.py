"""Variants of an instance: named lists of changes to its tables, read from a YAML or JSON file.

    variants:
      - name: tw_32
        changes:
          - table: tariffs
            where: {origin_country: TW}          # column: value, or column: [values]
            set: {rate: 0.32}                    # or scale: {column: factor}, add: {column: amount}
      - name: tw_sweep
        changes:
          - table: tariffs
            where: {origin_country: TW}
            set: {rate: [0.0, 0.1, 0.2, 0.4]}    # one variant per value: tw_sweep[rate=0.1] ...
      - name: no_houston
        changes:
          - {table: sites, where: {site: HOU}, delete: true}
          - {table: tariffs, append: [{scenario: "*", origin_country: MX, ...}]}
          - {settings: {risk: {measure: cvar, weight: 0.5}}}

Each change is applied, in order, to the instance's tables (`Network.to_tables()`), and the
result is validated by the data contract like any input. Deleted rows take with them the rows
of other tables that refer to them (a site's tiers, lanes and production costs, ...), because
the contract would otherwise reject those rows; each such removal is recorded in the variant's
notes.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reshore.optimizer.schema import ANY, ROW_MODELS, InvalidNetwork, Network, parse_network

Scalar = str | int | float | bool | None
Value = Scalar | list[Scalar]


class Change(BaseModel):
    """One change: a table, the rows it touches (`where`), and exactly one action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str | None = Field(None, description="table of the data contract")
    where: dict[str, Value] = Field(
        default_factory=dict,
        description="column: value, or column: [values]; every condition must hold;"
        " absent: every row")
    set: dict[str, Value] | None = Field(
        None, description="column: new value; a list gives one variant per value")
    scale: dict[str, float | list[float]] | None = Field(
        None, description="column: factor; a list gives one variant per factor")
    add: dict[str, float | list[float]] | None = Field(
        None, description="column: amount added; a list gives one variant per amount")
    delete: bool = Field(False, description="delete the rows matched by where")
    append: list[dict[str, Any]] | None = Field(None, description="rows added to the table")
    settings: dict[str, Any] | None = Field(
        None, description="settings merged into the instance's settings (nested keys)")

    @model_validator(mode="after")
    def _one_action(self) -> Change:
        actions = [name for name in ("set", "scale", "add", "append", "settings")
                   if getattr(self, name) is not None] + (["delete"] if self.delete else [])
        if len(actions) != 1:
            raise ValueError("a change takes exactly one of set, scale, add, delete, append,"
                             f" settings; found {', '.join(actions) or 'none'}")
        if self.settings is not None and (self.table is not None or self.where):
            raise ValueError("a settings change takes no table and no where")
        if self.settings is None and self.table is None:
            raise ValueError("a table change needs 'table'")
        if self.table is not None and self.table not in ROW_MODELS:
            raise ValueError(f"unknown table '{self.table}'; tables: {', '.join(ROW_MODELS)}")
        return self


class VariantSpec(BaseModel):
    """A named variant as written in the file (lists not yet expanded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="variant name, unique in the file")
    changes: list[Change] = Field(min_length=1, description="changes applied in order")


class VariantsFile(BaseModel):
    """The variants file: `variants:` followed by a list of named variants."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variants: list[VariantSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> VariantsFile:
        names = [v.name for v in self.variants]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(repeated)}")
        if "base" in names:
            raise ValueError("'base' names the unchanged instance; choose another variant name")
        return self


class VariantError(ValueError):
    """A variants file or a variant that cannot be read, applied or validated."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the variants:\n{lines}")


@dataclass(frozen=True)
class Variant:
    """One concrete variant: list values replaced by one value each."""

    name: str
    changes: tuple[Change, ...]


@dataclass
class AppliedVariant:
    """A variant applied to an instance: the validated network and what happened to it."""

    name: str
    network: Network
    notes: list[str] = field(default_factory=list)


# --- reading and expanding ----------------------------------------------------------------------


def read_variants(path: str | Path) -> VariantsFile:
    """Read a YAML or JSON variants file (JSON is YAML, so one reader serves both)."""
    source = Path(path)
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise VariantError([f"{source.name}: cannot read the file: {error}"]) from error
    except yaml.YAMLError as error:
        raise VariantError([f"{source.name}: not valid YAML or JSON: {error}"]) from error
    return parse_variants(document, source.name)


def parse_variants(document: Any, origin: str = "variants") -> VariantsFile:
    """Validate a variants document; errors name the variant and change they are in."""
    try:
        return VariantsFile.model_validate(document)
    except ValidationError as error:
        problems = []
        names = _variant_names(document)
        for detail in error.errors():
            location = list(detail["loc"])
            where = origin
            if len(location) >= 2 and location[0] == "variants" and isinstance(location[1], int):
                index = location[1]
                name = names[index] if index < len(names) else None
                where += f": variant {index + 1}" + (f" '{name}'" if name else "")
                location = location[2:]
                if len(location) >= 2 and location[0] == "changes" and isinstance(
                        location[1], int):
                    where += f" change {location[1] + 1}"
                    location = location[2:]
            shown = ".".join(str(part) for part in location)
            message = str(detail["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}{f' field {shown}' if shown else ''}: {message}")
        raise VariantError(problems) from error


def _variant_names(document: Any) -> list[str | None]:
    if not isinstance(document, dict) or not isinstance(document.get("variants"), list):
        return []
    return [v.get("name") if isinstance(v, dict) else None for v in document["variants"]]


def _list_slots(spec: VariantSpec) -> list[tuple[int, str, str, list[Scalar]]]:
    """(change index, action, column, values) of every list value in set/scale/add."""
    slots: list[tuple[int, str, str, list[Scalar]]] = []
    for index, change in enumerate(spec.changes):
        for action in ("set", "scale", "add"):
            columns: Mapping[str, Any] = getattr(change, action) or {}
            for column, value in columns.items():
                if isinstance(value, list):
                    slots.append((index, action, column, list(value)))
    return slots


def _label(value: Scalar) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def expand(spec: VariantSpec) -> list[Variant]:
    """One variant per combination of list values, named `name[column=value,...]`."""
    slots = _list_slots(spec)
    if not slots:
        return [Variant(spec.name, tuple(spec.changes))]
    variants = []
    for combination in itertools.product(*(values for *_, values in slots)):
        changes = [change.model_dump() for change in spec.changes]
        labels = []
        for (index, action, column, _), value in zip(slots, combination, strict=True):
            changes[index][action][column] = value
            labels.append(f"{column}={_label(value)}")
        variants.append(Variant(f"{spec.name}[{','.join(labels)}]",
                                tuple(Change.model_validate(c) for c in changes)))
    return variants


def variant_count(variants: VariantsFile) -> int:
    """How many variants the file expands to (counted before expanding)."""
    total = 0
    for spec in variants.variants:
        count = 1
        for *_, values in _list_slots(spec):
            count *= len(values)
        total += count
    return total


def expand_all(variants: VariantsFile) -> list[Variant]:
    """Every variant of the file, lists expanded, in file order."""
    return [variant for spec in variants.variants for variant in expand(spec)]


# --- applying -----------------------------------------------------------------------------------

DEPENDENTS: dict[str, list[tuple[str, str]]] = {
    "sites": [("site_tiers", "site"), ("production_costs", "site"), ("lanes", "origin"),
              ("lanes", "destination")],
    "products": [("bom", "product"), ("production_costs", "product"), ("demand", "product")],
    "components": [("bom", "component"), ("offers", "component"), ("policies", "component")],
    "suppliers": [("offers", "supplier"), ("lanes", "origin")],
    "offers": [("offer_capacities", "offer")],
    "customers": [("demand", "customer"), ("lanes", "destination")],
    "scenarios": [("demand", "scenario"), ("tariffs", "scenario")],
}
"""For each table, the (table, column) pairs that refer to its key: rows there that name a
deleted key would break the contract, so they are deleted with it."""

KEY_COLUMN = {"sites": "site", "products": "product", "components": "component",
              "suppliers": "supplier", "offers": "offer", "customers": "customer",
              "scenarios": "scenario"}


def _matches(row: Mapping[str, Any], where: Mapping[str, Value]) -> bool:
    for column, wanted in where.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if row.get(column) not in options:
            return False
    return True


def _columns(table: str) -> list[str]:
    return list(ROW_MODELS[table].model_fields)


def _check_columns(table: str, columns: Sequence[str], what: str) -> list[str]:
    known = _columns(table)
    return [f"{what} names unknown column '{c}' of table {table}; columns:"
            f" {', '.join(known)}" for c in columns if c not in known]


def _number(value: Any, table: str, row: int, column: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _ChangeError(f"table {table} row {row} column {column}: value {value!r} is not"
                             " a number and cannot be scaled or added to")
    return float(value)


def _given_number(value: float | list[float]) -> float:
    """A factor or amount of a change whose lists were expanded."""
    if isinstance(value, list):
        raise _ChangeError("a list value reached a change unexpanded; use expand()")
    return float(value)


class _ChangeError(Exception):
    """A change that cannot be applied; turned into a VariantError naming the variant."""


def _merge(target: dict[str, Any], changes: Mapping[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _delete_dependents(tables: dict[str, Any], table: str, deleted: list[dict[str, Any]],
                       notes: list[str]) -> None:
    """Remove the rows that refer to deleted keys, and say so in the notes."""
    column = KEY_COLUMN.get(table)
    if column is None:
        return
    keys = {row[column] for row in deleted}
    for dependent, refers in DEPENDENTS[table]:
        rows = tables.get(dependent)
        if not rows:
            continue
        kept = [row for row in rows if row.get(refers) not in keys or row.get(refers) == ANY]
        removed = len(rows) - len(kept)
        if removed:
            tables[dependent] = kept
            notes.append(f"deleting {table} {', '.join(sorted(map(str, keys)))} also deleted"
                         f" {removed} {dependent} row(s) naming it in column {refers}")
            _delete_dependents(tables, dependent, [r for r in rows if r not in kept], notes)


def _with_defaults(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """An appended row with the contract's defaults filled in, so that later changes can
    match it by any column; a row that fails its shape is kept as given and reported by the
    contract's validation of the whole variant."""
    try:
        return ROW_MODELS[table].model_validate(row).model_dump(mode="json")
    except ValidationError:
        return copy.deepcopy(dict(row))


def apply_change(tables: dict[str, Any], change: Change, notes: list[str]) -> None:
    """Apply one change to the tables in place (the caller owns a copy)."""
    if change.settings is not None:
        _merge(tables["settings"], change.settings)
        return
    table = str(change.table)
    if change.append is not None:
        problems = [p for row in change.append for p in _check_columns(table, list(row),
                                                                      "an appended row")]
        if problems:
            raise _ChangeError("; ".join(problems))
        if tables.get(table) is None:
            tables[table] = []
        tables[table].extend(_with_defaults(table, row) for row in change.append)
        return
    problems = _check_columns(table, list(change.where), "where")
    for action in ("set", "scale", "add"):
        problems += _check_columns(table, list(getattr(change, action) or {}), action)
    if problems:
        raise _ChangeError("; ".join(problems))
    rows: list[dict[str, Any]] = tables.get(table) or []
    matched = [i for i, row in enumerate(rows) if _matches(row, change.where)]
    if not matched:
        shown = json.dumps(change.where) if change.where else "(every row)"
        raise _ChangeError(f"where {shown} matches no row of table {table}"
                             f" ({len(rows)} rows)")
    if change.delete:
        deleted = [rows[i] for i in matched]
        tables[table] = [row for i, row in enumerate(rows) if i not in set(matched)]
        _delete_dependents(tables, table, deleted, notes)
        return
    for i in matched:
        row = rows[i]
        for column, value in (change.set or {}).items():
            row[column] = value
        for column, factor in (change.scale or {}).items():
            if row.get(column) is not None:  # absent stays absent (e.g. unlimited capacity)
                row[column] = _number(row[column], table, i + 1, column) * _given_number(factor)
        for column, amount in (change.add or {}).items():
            if row.get(column) is not None:
                row[column] = _number(row[column], table, i + 1, column) + _given_number(amount)


def apply_variant(network: Network, variant: Variant) -> AppliedVariant:
    """The instance with the variant's changes applied, validated by the contract."""
    tables = network.to_tables()
    notes: list[str] = []
    for number, change in enumerate(variant.changes, start=1):
        try:
            apply_change(tables, change, notes)
        except _ChangeError as problem:
            raise VariantError([f"variant '{variant.name}' change {number}: {problem}"]) from None
    try:
        changed = parse_network(tables)
    except InvalidNetwork as invalid:
        raise VariantError([f"variant '{variant.name}': {error}" for error in invalid.errors]
                           ) from None
    return AppliedVariant(variant.name, changed, notes)


def apply_all(network: Network, variants: VariantsFile) -> list[AppliedVariant]:
    """Every variant applied and validated; all problems are reported together."""
    applied, problems = [], []
    for variant in expand_all(variants):
        try:
            applied.append(apply_variant(network, variant))
        except VariantError as error:
            problems += error.problems
    names = [a.name for a in applied]
    repeated = sorted({n for n in names if names.count(n) > 1})
    problems += [f"two variants expand to the same name '{n}'" for n in repeated]
    if problems:
        raise VariantError(problems)
    return applied


# --- instances derived from the input -----------------------------------------------------------


def with_risk(network: Network, measure: str, weight: float | None = None) -> Network:
    """The instance with another risk measure (and weight)."""
    return parse_network(_risk_tables(network, measure, weight))


def _risk_tables(network: Network, measure: str, weight: float | None) -> dict[str, Any]:
    """The instance's tables with another risk measure (and weight)."""
    tables = network.to_tables()
    tables["settings"]["risk"]["measure"] = measure
    if weight is not None:
        tables["settings"]["risk"]["weight"] = weight
    return tables


def expected_cost_network(network: Network) -> Network:
    """The recourse problem on the expected-cost objective."""
    return with_risk(network, "expected", 0.0)


def scenario_alone(network: Network, scenario: str) -> Network:
    """The instance with one scenario of probability 1 (its own and the `*` rows only), on
    the expected-cost objective; validated once."""
    return parse_network(_alone_tables(network, scenario))


def _alone_tables(network: Network, scenario: str) -> dict[str, Any]:
    """The tables of `scenario_alone`."""
    tables = _risk_tables(network, "expected", 0.0)
    tables["scenarios"] = [{**s, "probability": 1.0} for s in tables["scenarios"]
                           if s["scenario"] == scenario]
    for table in ("demand", "tariffs"):
        tables[table] = [row for row in tables[table] if row["scenario"] in (ANY, scenario)]
    return tables


def _demand_by_scenario(network: Network) -> dict[str, dict[tuple[str, str, str], float]]:
    """Each scenario's demand by customer, product and period: its own rows, else the `*`
    rows."""
    shared = {(d.customer, d.product, d.period): d.quantity for d in network.demand
              if d.scenario == ANY}
    demand = {s.scenario: dict(shared) for s in network.scenarios}
    for d in network.demand:
        if d.scenario != ANY:
            demand[d.scenario][(d.customer, d.product, d.period)] = d.quantity
    return demand


def _least_demand(network: Network) -> dict[tuple[str, str, str], float]:
    """Per customer, product and period, the least demand of any scenario (0 where a
    scenario has none)."""
    demand = _demand_by_scenario(network)
    return {key: min(mine.get(key, 0.0) for mine in demand.values())
            for key in sorted(set().union(*demand.values()))}


def least_demand_scenario(network: Network) -> str | None:
    """A scenario whose demand is nowhere above another scenario's (the first such), or None
    when none is."""
    least = _least_demand(network)
    for scenario, mine in _demand_by_scenario(network).items():
        if all(mine.get(key, 0.0) <= quantity for key, quantity in least.items()):
            return scenario
    return None


def least_demand_alone(network: Network) -> Network:
    """The first scenario alone (`scenario_alone`) with, for each customer, product and
    period, the least demand of any scenario: a plan of its first periods' flows serves no
    scenario more than it demands."""
    tables = _alone_tables(network, network.scenarios[0].scenario)
    tables["demand"] = [{"customer": customer, "product": product, "period": period,
                         "quantity": quantity, "scenario": ANY}
                        for (customer, product, period), quantity
                        in _least_demand(network).items()]
    return parse_network(tables)
