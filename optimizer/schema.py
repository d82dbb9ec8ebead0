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

    model_config = ConfigDict(extra="forbid", frozen=True)


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
    site: Id
    name: Text = ""
    country: Id
    region: Text = ""
    lat: Latitude | None = None
    lon: Longitude | None = None
    status: Literal["existing", "candidate"] = "candidate"
    earliest_open_period: Id | None = None
    build_periods: PeriodCount = 0
    closing_cost: NonNegative = 0.0
    labour_cost_per_hour: NonNegative = 0.0


class SiteTier(Row):
    site: Id
    tier: Id
    capacity_hours: NonNegative
    opening_cost: NonNegative = 0.0
    fixed_cost_per_period: NonNegative = 0.0


class Product(Row):
    product: Id
    name: Text = ""
    assembly_hours: Positive
    unit_value: NonNegative = 0.0
    tariff_class: Text = ""
    holding_cost_per_period: NonNegative = 0.0


class Component(Row):
    component: Id
    name: Text = ""
    tariff_class: Text = ""
    holding_cost_per_period: NonNegative = 0.0


class BomLine(Row):
    product: Id
    component: Id
    quantity: Positive


class ProductionCost(Row):
    site: Id
    product: Id
    cost_per_unit: NonNegative


class Supplier(Row):
    supplier: Id
    name: Text = ""
    country: Id
    lat: Latitude | None = None
    lon: Longitude | None = None


class Offer(Row):
    offer: Id
    supplier: Id
    component: Id
    origin_country: Id | None = None
    unit_price: NonNegative
    capacity_per_period: NonNegative | None = None
    lead_periods: PeriodCount = 0
    qualification_cost: NonNegative = 0.0


class Customer(Row):
    customer: Id
    name: Text = ""
    country: Id
    region: Text = ""
    lat: Latitude | None = None
    lon: Longitude | None = None
    single_source: bool = False


class Demand(Row):
    customer: Id
    product: Id
    period: Id
    quantity: NonNegative
    scenario: Id = ANY


class Lane(Row):
    origin: Id
    destination: Id
    cost_per_unit: NonNegative = 0.0
    transit_periods: PeriodCount = 0


class Scenario(Row):
    scenario: Id
    probability: Fraction
    description: Text = ""


class Tariff(Row):
    scenario: Id = ANY
    origin_country: Id
    destination_country: Id
    tariff_class: Id = ANY
    from_period: Id | None = None
    rate: NonNegative


PolicyName = Literal[
    "max_country_share", "min_suppliers", "max_open_sites", "capex_budget", "min_domestic_share"
]


class Policy(Row):
    policy: PolicyName
    component: Id = ANY
    country: Id = ANY
    value: NonNegative


DEFAULT_SCENARIO = Scenario(scenario="base", probability=1.0, description="single scenario")


class Network(BaseModel):
    """A validated instance: settings plus every table of the data contract."""

    model_config = ConfigDict(frozen=True)

    settings: Settings
    sites: list[Site]
    site_tiers: list[SiteTier]
    products: list[Product]
    components: list[Component] = []
    bom: list[BomLine] = []
    production_costs: list[ProductionCost] = []
    suppliers: list[Supplier] = []
    offers: list[Offer] = []
    customers: list[Customer]
    demand: list[Demand]
    lanes: list[Lane] | None = Field(
        None, description="allowed lanes; absent = every pair at great-circle distance"
    )
    scenarios: list[Scenario] = Field(default_factory=lambda: [DEFAULT_SCENARIO])
    tariffs: list[Tariff] = []
    policies: list[Policy] = []

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
    from optimizer.validation import duplicate_keys, lane_directions, unknown_references

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
    from optimizer.validation import cross_table_errors

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
