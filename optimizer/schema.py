"""The data contract: one pydantic model per input table, validated once into a `Network`.

Shapes (types, signs, allowed values) are checked by pydantic row by row; the rules that
span tables (references, probabilities, paths from suppliers to customers) live in
`optimizer.validation`. Every problem is collected as a `ContractError` naming its table,
row and column, and all of them are raised together in one `InvalidNetwork`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

ANY = "*"
"""Wildcard in demand.scenario, tariffs and policies: matches every value."""

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Text = Annotated[str, StringConstraints(strip_whitespace=True)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
PeriodCount = Annotated[int, Field(ge=0)]


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

    time_limit_s: Positive | None = Field(None, description="wall-clock limit in seconds")
    mip_gap: NonNegative = Field(1e-4, description="relative MIP gap at which to stop")
    threads: Annotated[int, Field(ge=1)] | None = Field(None, description="HiGHS threads")
    random_seed: Annotated[int, Field(ge=0)] | None = Field(None, description="HiGHS seed")


class Settings(Row):
    """Horizon, discounting, risk measure and defaults of one instance."""

    periods: list[Id] = Field(min_length=1, description="ordered period labels")
    discount_rate: NonNegative = Field(0.0, description="discount rate per period")
    risk: RiskSettings = Field(default_factory=RiskSettings)
    commit_periods: PeriodCount = Field(
        1, description="leading periods whose flows are shared by all scenarios"
    )
    unmet_penalty: NonNegative | None = Field(
        None, description="cost per unit of demand not served; absent = demand must be met"
    )
    transport_cost_per_unit_km: NonNegative = Field(
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
    closing_cost: NonNegative = 0.0
    """One-time cost of closing an existing site."""
    labour_cost_per_hour: NonNegative = 0.0
    """Labour cost per assembly hour (default production cost = this x assembly_hours)."""


class SiteTier(Row):
    """A capacity level at which a site can operate."""

    site: Id
    """The site."""
    tier: Id
    """Tier id, unique per site."""
    capacity_hours: NonNegative
    """Assembly hours available per period."""
    opening_cost: NonNegative = 0.0
    """One-time cost of opening the site at this tier (ignored for existing sites)."""
    fixed_cost_per_period: NonNegative = 0.0
    """Cost of every period in which the site operates at this tier."""


class Product(Row):
    """A finished good demanded by customers."""

    product: Id
    """Product id."""
    name: Text = ""
    """Display name."""
    assembly_hours: Positive
    """Site capacity hours one unit takes."""
    unit_value: NonNegative = 0.0
    """Customs value of one unit, the base of tariffs on finished goods."""
    tariff_class: Text = ""
    """Tariff class matched by the tariffs table."""
    holding_cost_per_period: NonNegative = 0.0
    """Cost of holding one unit in stock for one period."""


class Component(Row):
    """A purchased part that goes into products through the BOM."""

    component: Id
    """Component id."""
    name: Text = ""
    """Display name."""
    tariff_class: Text = ""
    """Tariff class matched by the tariffs table."""
    holding_cost_per_period: NonNegative = 0.0
    """Cost of holding one unit in stock for one period."""


class BomLine(Row):
    """How many units of a component one unit of a product takes."""

    product: Id
    """The product."""
    component: Id
    """The component."""
    quantity: Positive
    """Units of the component per unit of the product."""


class ProductionCost(Row):
    """Cost of making one unit of a product at a site, replacing labour x hours."""

    site: Id
    """The site."""
    product: Id
    """The product."""
    cost_per_unit: NonNegative
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
    unit_price: NonNegative
    """Price per unit, also the customs value."""
    capacity_per_period: NonNegative | None = None
    """Units the offer can deliver per period (absent: unlimited)."""
    lead_periods: PeriodCount = 0
    """Periods between order and arrival, before the lane's transit."""
    qualification_cost: NonNegative = 0.0
    """One-time cost of qualifying the offer before buying from it."""


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
    quantity: NonNegative
    """Units demanded."""
    scenario: Id = ANY
    """Scenario, or '*' for every scenario (a named scenario's row replaces the '*' row)."""


class Lane(Row):
    """An allowed transport link: supplier -> site or site -> customer."""

    origin: Id
    """A supplier or a site."""
    destination: Id
    """A site (from a supplier) or a customer (from a site)."""
    cost_per_unit: NonNegative = 0.0
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
    rate: NonNegative
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
    value: NonNegative
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

    def to_tables(self) -> dict[str, Any]:
        """The JSON form of the contract: settings plus one list of rows per table."""
        return self.model_dump(mode="json", exclude_none=False)


ROW_MODELS: dict[str, type[Row]] = {
    "sites": Site,
    "site_tiers": SiteTier,
    "products": Product,
    "components": Component,
    "bom": BomLine,
    "production_costs": ProductionCost,
    "suppliers": Supplier,
    "offers": Offer,
    "customers": Customer,
    "demand": Demand,
    "lanes": Lane,
    "scenarios": Scenario,
    "tariffs": Tariff,
    "policies": Policy,
}
"""Every table of the contract and the model of its rows, in reading order."""

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
    "customers": ("customer",),
    "demand": ("customer", "product", "period", "scenario"),
    "lanes": ("origin", "destination"),
    "scenarios": ("scenario",),
    "tariffs": ("scenario", "origin_country", "destination_country", "tariff_class",
                "from_period"),
    "policies": ("policy", "component", "country"),
}


def _errors_of(table: str, row: int | None, error: ValidationError) -> list[ContractError]:
    found = []
    for detail in error.errors():
        location = [str(part) for part in detail["loc"]]
        column = ".".join(location) if location else None
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown column"
        elif detail["type"] == "missing":
            message = "required value is missing"
        found.append(ContractError(table, row, column, message))
    return found


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
        tables[name] = []
        for row in rows:
            given: dict[str, Any] = {k: v for k, v in row.items() if k in model.model_fields
                                     and isinstance(v, str | int | float)} if isinstance(
                row, dict) else {}
            tables[name].append(model.model_construct(None, **given))
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


def parse_network(raw: Mapping[str, Any]) -> Network:
    """Validate raw tables (settings dict and lists of row dicts) into a `Network`.

    Raises `InvalidNetwork` listing every shape and cross-table error at once.
    """
    from reshore.optimizer.validation import cross_table_errors

    errors: list[ContractError] = []
    unknown = sorted(set(raw) - set(ROW_MODELS) - {"settings"})
    errors += [ContractError(name, None, None, "unknown table") for name in unknown]

    settings: Settings | None = None
    if "settings" not in raw:
        errors.append(ContractError("settings", None, None, "required table is missing"))
    else:
        try:
            settings = Settings.model_validate(raw["settings"])
        except ValidationError as error:
            errors += _errors_of("settings", None, error)

    tables: dict[str, list[Row] | None] = {}
    for name, model in ROW_MODELS.items():
        rows = raw.get(name)
        if rows is None:
            if name in REQUIRED_TABLES:
                errors.append(ContractError(name, None, None, "required table is missing"))
            continue
        if not isinstance(rows, list):
            errors.append(ContractError(name, None, None, "must be a list of rows"))
            continue
        parsed: list[Row] = []
        for number, row in enumerate(rows, start=1):
            try:
                parsed.append(model.model_validate(row))
            except ValidationError as error:
                errors += _errors_of(name, number, error)
        tables[name] = parsed

    if errors or settings is None:
        raise InvalidNetwork(errors + _reference_errors_beside_shape_errors(raw, settings))
    fields: dict[str, Any] = {name: rows for name, rows in tables.items() if rows is not None}
    if not fields.get("scenarios"):
        fields.pop("scenarios", None)
    network = Network(settings=settings, **fields)
    errors = cross_table_errors(network)
    if errors:
        raise InvalidNetwork(errors)
    return network
