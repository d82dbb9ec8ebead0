"""The data contract: one pydantic model per input table, validated once into a `Network`.

Shapes (types, signs, allowed values) are checked by pydantic row by row; the rules that
span tables (references, probabilities, paths from suppliers to customers) live in
`optimizer.validation`. Every problem is collected as a `ContractError` naming its table,
row and column, and all of them are raised together in one `InvalidNetwork`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.json_schema import SkipJsonSchema

ANY = "*"
"""Wildcard in demand.scenario, tariffs and policies: matches every value."""

ID_PATTERN = r"^[^\p{C}]+$"
"""Ids are printable characters only: no control characters (NUL, tab, newline, ...) and no
invisible format characters (Unicode category C)."""
TEXT_PATTERN = r"^(?:[^\p{C}]|[\t\n\r])*$"
"""Free text may also hold tabs and line breaks, but no other control characters."""
ID_MAX_LENGTH = 200
TEXT_MAX_LENGTH = 2000

MONEY_MAX = 1e12
"""Largest amount of money in any money column (a price, a cost, a penalty, a budget)."""
QUANTITY_MAX = 1e9
"""Largest quantity, capacity or number of hours in any column."""
RATE_MAX = 10.0
"""Largest tariff rate (1000 % of the customs value)."""
PERIODS_MAX = 1000
"""Largest count of periods (lead, transit, build or committed periods)."""
THREADS_MAX = 256
"""Most HiGHS threads settings.solver.threads may ask for."""
TIME_LIMIT_MAX_S = 30 * 24 * 3600.0
"""Longest time limit settings.solver.time_limit_s may give (30 days)."""

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                      max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TEXT_MAX_LENGTH,
                                        pattern=TEXT_PATTERN)]
Money = Annotated[float, Field(ge=0, le=MONEY_MAX, allow_inf_nan=False)]
Quantity = Annotated[float, Field(ge=0, le=QUANTITY_MAX, allow_inf_nan=False)]
PositiveQuantity = Annotated[float, Field(gt=0, le=QUANTITY_MAX, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
TariffRate = Annotated[float, Field(ge=0, le=RATE_MAX, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
PeriodCount = Annotated[int, Field(ge=0, le=PERIODS_MAX)]


@dataclass(frozen=True)
class ContractError:
    """One problem in the input, located by table, row (1-based data row) and column."""

    table: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.table
        if self.row is not None:
            where += f" row {self.row}"
        if self.column:
            where += f" column {self.column}"
        return f"{where}: {self.message}"


class InvalidNetwork(ValueError):  # noqa: N818 - reads as a domain answer: "invalid network"
    """Raised with every contract error found, never with just the first."""

    def __init__(self, errors: Sequence[ContractError]) -> None:
        self.errors = list(errors)
        lines = "\n".join(f"  - {error}" for error in self.errors)
        super().__init__(f"{len(self.errors)} problem(s) in the input:\n{lines}")


class Row(BaseModel):
    """Base of every table row: unknown columns are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# --- settings -----------------------------------------------------------------------------


class RiskSettings(Row):
    """How scenario costs are aggregated into the objective."""

    measure: Literal["expected", "cvar", "worst_case"] = Field(
        "expected", description="expected cost, CVaR of cost, or worst-case cost"
    )
    alpha: float = Field(0.9, gt=0, lt=1, description="CVaR confidence level")
    weight: Fraction = Field(
        1.0, description="lambda: objective = (1-lambda) E[cost] + lambda R[cost]"
    )


class SolverSettings(Row):
    """Options handed to HiGHS."""

    time_limit_s: Annotated[float, Field(gt=0, le=TIME_LIMIT_MAX_S, allow_inf_nan=False)] | (
        None) = Field(None, description="wall-clock limit in seconds")
    mip_gap: Fraction = Field(1e-4, description="relative MIP gap at which to stop")
    threads: Annotated[int, Field(ge=1, le=THREADS_MAX)] | None = Field(
        None, description="HiGHS threads")
    random_seed: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = Field(
        None, description="HiGHS seed")


class Settings(Row):
    """Horizon, discounting, risk measure and defaults of one instance."""

    periods: list[Id] = Field(min_length=1, description="ordered period labels")
    discount_rate: Fraction = Field(0.0, description="discount rate per period")
    risk: RiskSettings = Field(default_factory=RiskSettings)
    commit_periods: PeriodCount = Field(
        1, description="leading periods whose flows are shared by all scenarios"
    )
    unmet_penalty: Money | None = Field(
        None, description="cost per unit of demand not served; absent = demand must be met"
    )
    transport_cost_per_unit_km: Money = Field(
        0.0, description="transport cost per unit and great-circle km when lanes are absent"
    )
    solver: SolverSettings = Field(default_factory=SolverSettings)


# --- tables -------------------------------------------------------------------------------


class Site(Row):
    """A manufacturing site: existing, or a candidate that may be opened."""

    site: Id
    """Site id, referenced by site_tiers, production_costs and lanes."""
    name: Text = ""
    """Display name."""
    country: Id
    """Country code; tariffs apply when goods cross into or out of it."""
    region: Text = ""
    """Free-text region."""
    lat: Latitude | None = None
    """Latitude in degrees (needed when the lanes table is absent)."""
    lon: Longitude | None = None
    """Longitude in degrees (needed when the lanes table is absent)."""
    status: Literal["existing", "candidate"] = "candidate"
    """existing: operates from the first period and may close; candidate: may be opened."""
    earliest_open_period: Id | None = None
    """First period in which a candidate may operate (default: the first period)."""
    build_periods: PeriodCount = 0
    """Periods of construction from the start of the horizon before a candidate operates."""
    closing_cost: Money = 0.0
    """One-time cost of closing an existing site."""
    labour_cost_per_hour: Money = 0.0
    """Labour cost per assembly hour (default production cost = this x assembly_hours)."""


class SiteTier(Row):
    """A capacity level at which a site can operate."""

    site: Id
    """The site."""
    tier: Id
    """Tier id, unique per site."""
    capacity_hours: Quantity
    """Assembly hours available per period."""
    opening_cost: Money = 0.0
    """One-time cost of opening the site at this tier (ignored for existing sites)."""
    fixed_cost_per_period: Money = 0.0
    """Cost of every period in which the site operates at this tier."""


class Product(Row):
    """A finished good demanded by customers."""

    product: Id
    """Product id."""
    name: Text = ""
    """Display name."""
    assembly_hours: PositiveQuantity
    """Site capacity hours one unit takes."""
    unit_value: Money = 0.0
    """Customs value of one unit, the base of tariffs on finished goods."""
    tariff_class: Text = ""
    """Tariff class matched by the tariffs table."""
    holding_cost_per_period: Money = 0.0
    """Cost of holding one unit in stock for one period."""


class Component(Row):
    """A purchased part that goes into products through the BOM."""

    component: Id
    """Component id."""
    name: Text = ""
    """Display name."""
    tariff_class: Text = ""
    """Tariff class matched by the tariffs table."""
    holding_cost_per_period: Money = 0.0
    """Cost of holding one unit in stock for one period."""


class BomLine(Row):
    """How many units of a component one unit of a product takes."""

    product: Id
    """The product."""
    component: Id
    """The component."""
    quantity: PositiveQuantity
    """Units of the component per unit of the product."""


class ProductionCost(Row):
    """Cost of making one unit of a product at a site, replacing labour x hours."""

    site: Id
    """The site."""
    product: Id
    """The product."""
    cost_per_unit: Money
    """Production cost per unit."""


class Supplier(Row):
    """A supplier plant."""

    supplier: Id
    """Supplier id, referenced by offers and lanes."""
    name: Text = ""
    """Display name."""
    country: Id
    """Country code of the plant."""
    lat: Latitude | None = None
    """Latitude in degrees (needed when the lanes table is absent)."""
    lon: Longitude | None = None
    """Longitude in degrees (needed when the lanes table is absent)."""


class Offer(Row):
    """A supplier's offer for one component."""

    offer: Id
    """Offer id."""
    supplier: Id
    """The supplier making the offer."""
    component: Id
    """The component offered."""
    origin_country: Id | None = None
    """Country of origin for tariffs (default: the supplier's country)."""
    unit_price: Money
    """Price per unit, also the customs value."""
    capacity_per_period: Quantity | None = None
    """Units the offer can deliver per period (absent: unlimited)."""
    lead_periods: PeriodCount = 0
    """Periods between order and arrival, before the lane's transit."""
    qualification_cost: Money = 0.0
    """One-time cost of qualifying the offer before buying from it."""


class OfferCapacity(Row):
    """An offer's capacity from one period on, replacing its capacity_per_period (a supplier
    outage, a ramp-up, a capacity deal)."""

    offer: Id
    """The offer."""
    from_period: Id
    """First period (of ordering) in which this capacity holds; it holds until the offer's
    next row."""
    capacity_per_period: Quantity
    """Units the offer can deliver per period from `from_period` on (0: an outage)."""


class Customer(Row):
    """A customer, here a data-centre campus."""

    customer: Id
    """Customer id."""
    name: Text = ""
    """Display name."""
    country: Id
    """Country code; tariffs apply to finished goods from sites in other countries."""
    region: Text = ""
    """Free-text region."""
    lat: Latitude | None = None
    """Latitude in degrees (needed when the lanes table is absent)."""
    lon: Longitude | None = None
    """Longitude in degrees (needed when the lanes table is absent)."""
    single_source: bool = False
    """When true, each of the customer's products comes from one site over the horizon."""


class Demand(Row):
    """Units of a product a customer wants delivered in a period."""

    customer: Id
    """The customer."""
    product: Id
    """The product."""
    period: Id
    """Period of delivery."""
    quantity: Quantity
    """Units demanded."""
    scenario: Id = ANY
    """Scenario, or '*' for every scenario (a named scenario's row replaces the '*' row)."""


class Lane(Row):
    """An allowed transport link: supplier -> site or site -> customer."""

    origin: Id
    """A supplier or a site."""
    destination: Id
    """A site (from a supplier) or a customer (from a site)."""
    cost_per_unit: Money = 0.0
    """Transport cost per unit moved."""
    transit_periods: PeriodCount = 0
    """Periods in transit."""


class Scenario(Row):
    """A tariff-policy future."""

    scenario: Id
    """Scenario id."""
    probability: Fraction
    """Probability; all scenarios sum to 1."""
    description: Text = ""
    """What the scenario assumes."""


class Tariff(Row):
    """An ad valorem duty; every matching row adds up."""

    scenario: Id = ANY
    """Scenario, or '*' for every scenario."""
    origin_country: Id
    """Country of origin of the goods, or '*' for any."""
    destination_country: Id
    """Importing country, or '*' for any."""
    tariff_class: Id = ANY
    """Tariff class of the goods, or '*' for every class."""
    from_period: Id | None = None
    """First period in which the duty applies (default: the first period)."""
    rate: TariffRate
    """Duty as a fraction of customs value (0.25 = 25 %)."""


PolicyName = Literal[
    "max_country_share", "min_suppliers", "max_open_sites", "capex_budget", "min_domestic_share",
    "max_supplier_share",
]

POLICY_VALUES: dict[str, Literal["share", "count", "money"]] = {
    "max_country_share": "share",
    "min_suppliers": "count",
    "max_open_sites": "count",
    "capex_budget": "money",
    "min_domestic_share": "share",
    "max_supplier_share": "share",
}
"""What each policy's `value` is: a share is a fraction (at most 1), a count a whole number;
money is in the instance's currency."""

NETWORK_WIDE_POLICIES = frozenset({"max_open_sites", "capex_budget"})
"""Policies that apply to the whole network: their component and country must be '*'."""


class Policy(Row):
    """A sourcing or network policy (see docs/formulation.md)."""

    policy: PolicyName
    """Kind of policy."""
    component: Id = ANY
    """Component it applies to, or '*'."""
    country: Id = ANY
    """Country it applies to, or '*'."""
    value: Money
    """Share (fraction), count or budget, by kind of policy."""


DEFAULT_SCENARIO = Scenario(scenario="base", probability=1.0, description="single scenario")


class Network(BaseModel):
    """A validated instance: settings plus every table of the data contract."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    settings: Settings
    """Horizon, discounting, risk measure, unmet-demand penalty, solver options."""
    sites: list[Site]
    """Existing and candidate manufacturing sites."""
    site_tiers: list[SiteTier]
    """Capacity tiers of each site."""
    products: list[Product]
    """Finished goods."""
    components: list[Component] = []
    """Purchased parts."""
    bom: list[BomLine] = []
    """Bill of materials: components per unit of product."""
    production_costs: list[ProductionCost] = []
    """Production cost per unit by site and product (default: labour x hours)."""
    suppliers: list[Supplier] = []
    """Supplier plants."""
    offers: list[Offer] = []
    """Component offers of the suppliers."""
    offer_capacities: list[OfferCapacity] = []
    """Capacities of offers from a period on (absent: each offer's capacity_per_period
    holds in every period)."""
    customers: list[Customer]
    """Customers."""
    demand: list[Demand]
    """Units wanted per customer, product, period and scenario."""
    lanes: list[Lane] | None = None
    """Allowed lanes; absent: every pair at great-circle distance."""
    scenarios: list[Scenario] = Field(default_factory=lambda: [DEFAULT_SCENARIO])
    """Tariff scenarios (absent: one scenario 'base')."""
    tariffs: list[Tariff] = []
    """Ad valorem duties; matching rows add up."""
    policies: list[Policy] = []
    """Sourcing and network policies."""
    warnings: SkipJsonSchema[tuple[str, ...]] = Field(default=(), exclude=True)
    """Remarks on the input that are not errors (an optional table given without rows);
    not part of the instance's tables or its hash."""

    def candidate_sites(self) -> list[str]:
        """The sites the plan may open (status `candidate`), in input order."""
        return [s.site for s in self.sites if s.status == "candidate"]

    def to_tables(self) -> dict[str, Any]:
        """The JSON form of the contract: settings plus one list of rows per table. A table
        added to the contract after its first release is left out while it has no rows, so
        that an instance without it keeps its form and its hash."""
        left_out = {name for name in LATER_TABLES if not getattr(self, name)}
        return self.model_dump(mode="json", exclude_none=False, exclude=left_out)


ROW_MODELS: dict[str, type[Row]] = {
    "sites": Site,
    "site_tiers": SiteTier,
    "products": Product,
    "components": Component,
    "bom": BomLine,
    "production_costs": ProductionCost,
    "suppliers": Supplier,
    "offers": Offer,
    "offer_capacities": OfferCapacity,
    "customers": Customer,
    "demand": Demand,
    "lanes": Lane,
    "scenarios": Scenario,
    "tariffs": Tariff,
    "policies": Policy,
}
"""Every table of the contract and the model of its rows, in reading order."""

LATER_TABLES = ("offer_capacities",)
"""Optional tables added to the contract after its first release (see `Network.to_tables`)."""
REQUIRED_TABLES = ("sites", "site_tiers", "products", "customers", "demand")
KEYS: dict[str, tuple[str, ...]] = {
    "sites": ("site",),
    "site_tiers": ("site", "tier"),
    "products": ("product",),
    "components": ("component",),
    "bom": ("product", "component"),
    "production_costs": ("site", "product"),
    "suppliers": ("supplier",),
    "offers": ("offer",),
    "offer_capacities": ("offer", "from_period"),
    "customers": ("customer",),
    "demand": ("customer", "product", "period", "scenario"),
    "lanes": ("origin", "destination"),
    "scenarios": ("scenario",),
    "tariffs": ("scenario", "origin_country", "destination_country", "tariff_class",
                "from_period"),
    "policies": ("policy", "component", "country"),
}


UNKNOWN_COLUMN = "unknown column"
MISSING_VALUE = "required value is missing"
SHOWN_VALUE_LENGTH = 60


def _shown(value: Any) -> str:
    """A value as a message shows it: quoted text with control characters escaped, cut short."""
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE_LENGTH else text[: SHOWN_VALUE_LENGTH - 3] + "..."


PLAIN_MESSAGES = {
    "finite_number": "must be a finite number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "string_type": "must be text",
    "string_too_short": "must not be empty",
}
"""pydantic's error kinds in the contract's words."""


def _message(detail: Any) -> str:
    """A pydantic error in the contract's words, with the value that was given."""
    kind, context = detail["type"], detail.get("ctx") or {}
    if kind in PLAIN_MESSAGES:
        message = PLAIN_MESSAGES[kind]
    elif kind == "less_than_equal":
        message = f"must be at most {context['le']:g}, the column's range"
    elif kind == "greater_than_equal":
        message = f"must be at least {context['ge']:g}"
    elif kind == "greater_than":
        message = f"must be greater than {context['gt']:g}"
    elif kind == "string_too_long":
        message = f"is longer than {context['max_length']} characters"
    elif kind == "string_pattern_mismatch" and context.get("pattern") == ID_PATTERN:
        message = ("must be printable characters only (no control characters such as NUL, tab"
                   " or line breaks, no invisible format characters)")
    elif kind == "string_pattern_mismatch":
        message = "must not hold control characters other than tabs and line breaks"
    else:
        message = str(detail["msg"])
    if "input" in detail:
        message += f" (got {_shown(detail['input'])})"
    return message


def _errors_of(table: str, row: int | None, error: ValidationError) -> list[ContractError]:
    found = []
    for detail in error.errors():
        location = [str(part) for part in detail["loc"]]
        column = ".".join(location) if location else None
        if detail["type"] == "extra_forbidden":
            message = UNKNOWN_COLUMN
        elif detail["type"] == "missing":
            message = MISSING_VALUE
        else:
            message = _message(detail)
        found.append(ContractError(table, row, column, message))
    return found


def _known_columns(model: type[BaseModel], column: str) -> list[str]:
    """The columns (or dotted settings keys) beside `column` in `model`."""
    *parents, _ = column.split(".")
    for parent in parents:
        annotation = model.model_fields[parent].annotation if parent in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    prefix = "".join(f"{parent}." for parent in parents)
    return [prefix + name for name in model.model_fields]


def _unknown_columns_once(table: str, model: type[BaseModel],
                          errors: list[ContractError]) -> list[ContractError]:
    """One error per unknown column (not one per row), with "did you mean" when a known column
    is spelt alike; a row's missing value of that known column is then not reported again."""
    rows_by_column: dict[str, list[int | None]] = {}
    for error in errors:
        if error.message == UNKNOWN_COLUMN and error.column is not None:
            rows_by_column.setdefault(error.column, []).append(error.row)
    meant: dict[str, str] = {}
    for column in rows_by_column:
        close = difflib.get_close_matches(column, _known_columns(model, column), n=1, cutoff=0.6)
        if close:
            meant[column] = close[0]
    replaced = set(meant.values())
    kept = [e for e in errors if e.message != UNKNOWN_COLUMN
            and not (e.message == MISSING_VALUE and e.column in replaced)]
    for column, rows in rows_by_column.items():
        message = UNKNOWN_COLUMN
        if len(rows) > 1:
            message += f" (given in {len(rows)} rows)"
        if column in meant:
            message += f"; did you mean '{meant[column]}'?"
        kept.append(ContractError(table, rows[0], column, message))
    return kept


def _without_nulls(value: Any) -> Any:
    """JSON null means "default", as an empty CSV or xlsx cell does: the key is dropped."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    return value


def _blank(row: Any) -> bool:
    """A row with no value at all (Excel's trailing `,,,,` rows): skipped, never an error."""
    return isinstance(row, dict) and not row


def _partial_row(model: type[Row], row: Any) -> Row:
    """A row as given, unvalidated: every column present, None where nothing usable was given."""
    given: dict[str, Any] = row if isinstance(row, dict) else {}
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        value = given.get(name)
        if isinstance(value, str) and value.strip():
            values[name] = value.strip()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = value
        else:
            values[name] = None if info.is_required() else info.default
    return model.model_construct(None, **values)


def _reference_errors_beside_shape_errors(raw: Mapping[str, Any],
                                          settings: Settings | None) -> list[ContractError]:
    """Duplicate keys, unknown references and lane directions, found even when some rows fail
    their shape, so that the user sees those errors in the same report. Rows are taken as
    given (unvalidated) and keep their row numbers."""
    from reshore.optimizer.validation import duplicate_keys, lane_directions, unknown_references

    tables: dict[str, Any] = {}
    for name, model in ROW_MODELS.items():
        rows = raw.get(name)
        if not isinstance(rows, list):
            tables[name] = None if name == "lanes" else []
            continue
        tables[name] = [_partial_row(model, _without_nulls(row)) for row in rows]
    if not tables["scenarios"]:
        tables["scenarios"] = [DEFAULT_SCENARIO]
    raw_settings = raw.get("settings")
    periods = settings.periods if settings is not None else (
        raw_settings.get("periods") if isinstance(raw_settings, dict) else None)
    if not isinstance(periods, list):
        periods = []
    partial = Network.model_construct(settings=Settings.model_construct(periods=periods),
                                      **tables)
    found = [*duplicate_keys(partial), *lane_directions(partial)]
    found += [e for e in unknown_references(partial) if periods or e.column not in (
        "period", "from_period", "earliest_open_period")]
    return found


def _parse_settings(raw: Mapping[str, Any]) -> tuple[Settings | None, list[ContractError]]:
    if raw.get("settings") is None:
        return None, [ContractError("settings", None, None, "required table is missing")]
    try:
        return Settings.model_validate(_without_nulls(raw["settings"])), []
    except ValidationError as error:
        return None, _unknown_columns_once("settings", Settings,
                                           _errors_of("settings", None, error))


def _parse_rows(name: str, model: type[Row], rows: list[Any]
                ) -> tuple[list[Row], list[int], list[ContractError]]:
    """A table's valid rows, the 1-based input row number of each, and the shape errors.
    Blank rows are skipped; row numbers still count them."""
    parsed: list[Row] = []
    numbers: list[int] = []
    errors: list[ContractError] = []
    for number, given in enumerate(rows, start=1):
        row = _without_nulls(given)
        if _blank(row):
            continue
        try:
            parsed.append(model.model_validate(row))
            numbers.append(number)
        except ValidationError as error:
            errors += _errors_of(name, number, error)
    errors = _unknown_columns_once(name, model, errors)
    if not parsed and not errors and name in REQUIRED_TABLES:
        errors.append(ContractError(name, None, None,
                                    "has no rows; this table needs at least one"))
    return parsed, numbers, errors


def parse_network(raw: Mapping[str, Any], warnings: Sequence[str] = ()) -> Network:
    """Validate raw tables (settings dict and lists of row dicts) into a `Network`.

    Raises `InvalidNetwork` listing every shape and cross-table error at once. `warnings`
    (remarks of the reader, such as an optional table given without rows) are kept on the
    network, with those of the tables themselves (components no BOM row uses), so that the
    plan can carry them.
    """
    from reshore.optimizer.validation import components_in_no_bom_row, cross_table_errors

    unknown = sorted(set(raw) - set(ROW_MODELS) - {"settings"})
    errors = [ContractError(name, None, None, _unknown_table(name)) for name in unknown]
    settings, found = _parse_settings(raw)
    errors += found

    tables: dict[str, list[Row]] = {}
    row_numbers: dict[str, list[int]] = {}
    for name, model in ROW_MODELS.items():
        rows = raw.get(name)
        if rows is None:
            if name in REQUIRED_TABLES:
                errors.append(ContractError(name, None, None, "required table is missing"))
            continue
        if not isinstance(rows, list):
            errors.append(ContractError(name, None, None, "must be a list of rows"))
            continue
        tables[name], row_numbers[name], found = _parse_rows(name, model, rows)
        errors += found

    if errors or settings is None:
        raise InvalidNetwork(errors + _reference_errors_beside_shape_errors(raw, settings))
    fields: dict[str, Any] = dict(tables)
    if not fields.get("scenarios"):
        fields.pop("scenarios", None)
    network = Network(settings=settings, warnings=tuple(warnings), **fields)
    errors = cross_table_errors(network)
    if errors:
        raise InvalidNetwork([_at_input_row(error, row_numbers) for error in errors])
    every_warning = tuple(dict.fromkeys((*warnings, *components_in_no_bom_row(network))))
    if every_warning != network.warnings:
        network = network.model_copy(update={"warnings": every_warning})
    return network


def _unknown_table(name: str) -> str:
    close = difflib.get_close_matches(name, [*ROW_MODELS, "settings"], n=1, cutoff=0.6)
    return "unknown table" + (f"; did you mean '{close[0]}'?" if close else "")


def _at_input_row(error: ContractError, row_numbers: Mapping[str, list[int]]) -> ContractError:
    """The error with its row counted as in the input (blank rows included)."""
    numbers = row_numbers.get(error.table)
    if error.row is None or not numbers or error.row > len(numbers):
        return error
    return replace(error, row=numbers[error.row - 1])


def canonical(document: Any) -> str:
    """A JSON document's canonical form: keys sorted, no spaces."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def canonical_json(network: Network) -> str:
    """The instance's canonical JSON form: its tables, in `canonical` form."""
    return canonical(network.to_tables())


def hash_of_canonical(document: str) -> str:
    """SHA-256 of an instance's canonical JSON form: the same input, the same hash."""
    return hashlib.sha256(document.encode()).hexdigest()
