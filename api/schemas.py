"""Request and response bodies of the HTTP API.

These wrap the data contract but are not it: an instance travels as the contract's JSON form
(`settings` plus one list of rows per table) and is validated by `optimizer.schema`, once, at
the boundary. Every field here carries a description, which OpenAPI shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from reshore.optimizer.variants import Change

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
PlanState = Literal["optimal", "feasible", "infeasible", "no_solution", "cancelled"]
TableName = Literal["sites", "sourcing", "production", "shipments", "inventory", "unmet",
                    "costs", "qualifications", "utilisation"]

EXAMPLE_INSTANCE: dict[str, Any] = {
    "settings": {"periods": ["P1"]},
    "sites": [{"site": "A", "country": "US"}, {"site": "B", "country": "US"}],
    "site_tiers": [
        {"site": "A", "tier": "std", "capacity_hours": 200, "opening_cost": 50},
        {"site": "B", "tier": "std", "capacity_hours": 200, "opening_cost": 150},
    ],
    "products": [{"product": "rack", "assembly_hours": 1}],
    "customers": [{"customer": "X", "country": "US"}, {"customer": "Y", "country": "US"}],
    "demand": [{"customer": "X", "product": "rack", "period": "P1", "quantity": 60},
               {"customer": "Y", "product": "rack", "period": "P1", "quantity": 60}],
    "lanes": [{"origin": "A", "destination": "X", "cost_per_unit": 1},
              {"origin": "A", "destination": "Y", "cost_per_unit": 3},
              {"origin": "B", "destination": "X", "cost_per_unit": 2},
              {"origin": "B", "destination": "Y", "cost_per_unit": 1}],
}
"""Two candidate sites, two customers: the optimum opens A only, cost 290."""

Instance = Annotated[
    dict[str, Any],
    WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/Network"}],
                    "description": "an instance in the JSON form of the data contract"}),
]
"""An instance as raw tables; `optimizer.schema.parse_network` validates it."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RiskOptions(Body):
    """Risk settings that replace the instance's `settings.risk` for this job."""

    measure: Literal["expected", "cvar", "worst_case"] | None = Field(
        None, description="expected cost, CVaR of cost, or worst-case cost")
    alpha: float | None = Field(None, gt=0, lt=1, description="CVaR confidence level")
    weight: float | None = Field(None, ge=0, le=1,
                                 description="lambda in (1-lambda) E[cost] + lambda R[cost]")


class ReplanJobOptions(Body):
    """Replan against an earlier job's plan instead of solving from scratch (see
    docs/replans.md)."""

    previous_job: str = Field(min_length=1, max_length=40,
                              description="a succeeded job of this tenant whose plan is kept")
    now: str = Field(min_length=1, max_length=200,
                     description="first period that is not history")
    freeze: int = Field(0, ge=0, le=10_000,
                        description="periods from `now` whose flows keep the previous plan")
    change_penalty: float | dict[str, float] = Field(
        0.0, description="price per unit moved beyond the frozen window: one value, or per"
        " table (sourcing, production, shipments)")


class AnalysisJobOptions(Body):
    """Run the tariff-risk analytics (docs/analytics.md) instead of a solve: the options of
    `reshore analyze`. Every sub-solve gets the job's solver options; `time_limit_s` is per
    sub-solve."""

    break_even: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=20,
        description="origin countries of break-even tariffs (one bisection each)")
    tariff_class: str = Field("*", min_length=1, max_length=200,
                              description="tariff class of the break-even tariff ('*': all)")
    tolerance: float = Field(0.005, gt=0, le=1,
                             description="break-even bisection tolerance, as a rate")
    max_rate: float = Field(1.0, gt=0, le=100,
                            description="upper end of the break-even search, as a rate")
    site_values: bool = Field(True, description="site values (two solves per candidate"
                              " site)")


WebhookUrl = Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://\S+$",
                                  description="called with a signed POST when the job ends")]


class JobOptions(Body):
    """How to solve; absent values come from the instance's `settings.solver`."""

    time_limit_s: float | None = Field(
        None, gt=0, le=1e7, description="solver wall-clock limit in seconds; at most the"
        " server's `max_time_limit_s`")
    mip_gap: float | None = Field(None, ge=0, le=1, description="relative MIP gap to stop at")
    threads: int | None = Field(None, ge=1, le=256, description="HiGHS threads")
    random_seed: int | None = Field(None, ge=0, le=2**31 - 1, description="HiGHS random seed")
    risk: RiskOptions | None = Field(None, description="risk measure for this job")
    replan: ReplanJobOptions | None = Field(None, description="replan against an earlier"
                                            " job's plan")
    analysis: AnalysisJobOptions | None = Field(
        None, description="an analysis job (POST /v1/analyses): the tariff-risk analytics"
        " instead of a solve")
    start_from_job: str | None = Field(
        None, min_length=1, max_length=40, description="a job of this tenant whose plan is"
        " handed to HiGHS as a MIP start; this job waits for it to finish (a what-if run"
        " with `warm_start` sets it on its variants)")
    webhook_url: WebhookUrl | None = None

    @model_validator(mode="after")
    def one_kind(self) -> JobOptions:
        kinds = [self.replan, self.analysis, self.start_from_job]
        if sum(kind is not None for kind in kinds) > 1:
            raise ValueError("give at most one of `replan`, `analysis` and `start_from_job`")
        return self


class DatasetRef(Body):
    """A stored dataset, at one version."""

    id: str = Field(min_length=1, max_length=40, description="dataset id")
    version: int | None = Field(None, ge=1, le=2**31 - 1,
                                description="version to solve (default: the latest)")


class JobCreate(Body):
    """A solve request: an instance, or a stored dataset, plus options."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"instance": EXAMPLE_INSTANCE, "options": {"time_limit_s": 30}},
                     {"dataset": {"id": "ds_0123456789abcdef", "version": 1},
                      "options": {"mip_gap": 0.001, "risk": {"measure": "cvar"}}}]})

    instance: Instance | None = Field(None, description="the instance to solve (or give"
                                      " `dataset`)")
    dataset: DatasetRef | None = Field(None, description="a stored dataset to solve (or give"
                                       " `instance`)")
    options: JobOptions = Field(default_factory=JobOptions,
                                description="solver and risk options")

    @model_validator(mode="after")
    def one_source(self) -> JobCreate:
        if (self.instance is None) == (self.dataset is None):
            raise ValueError("give exactly one of `instance` and `dataset`")
        return self


class AnalysisCreate(Body):
    """An analysis request: an instance or a stored dataset, the solver and risk options of
    every sub-solve, and the analysis options."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"instance": EXAMPLE_INSTANCE, "options": {"time_limit_s": 30},
                      "analysis": {"break_even": ["TW"], "tolerance": 0.01}}]})

    instance: Instance | None = Field(None, description="the instance (or give `dataset`)")
    dataset: DatasetRef | None = Field(None, description="a stored dataset (or give"
                                       " `instance`)")
    options: JobOptions = Field(default_factory=JobOptions, description="solver and risk"
                                " options of every sub-solve; `time_limit_s` is per sub-solve")
    analysis: AnalysisJobOptions = Field(default_factory=AnalysisJobOptions,
                                         description="what to analyse")

    @model_validator(mode="after")
    def one_source(self) -> AnalysisCreate:
        if (self.instance is None) == (self.dataset is None):
            raise ValueError("give exactly one of `instance` and `dataset`")
        if (self.options.replan, self.options.analysis, self.options.start_from_job) != (
                None, None, None):
            raise ValueError("options.replan, options.analysis and options.start_from_job"
                             " do not apply here; give the analysis options as `analysis`")
        return self


class JobLinks(BaseModel):
    """Where to go next."""

    self_: str = Field(alias="self", description="this job")
    result: str = Field(description="the plan once the job is finished")
    log: str = Field(description="the solver log")
    cancel: str = Field(description="DELETE here to cancel")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class Progress(BaseModel):
    """Where the solve stands."""

    best_objective: float | None = Field(None, description="objective of the best plan so far")
    bound: float | None = Field(None, description="best proven bound on the objective")
    gap: float | None = Field(None, description="relative gap between the two")
    elapsed_s: float | None = Field(None, description="seconds since the job started running")
    message: str | None = Field(None, description="the latest progress line")


class SizeView(BaseModel):
    """The estimated size of the model, before it is built."""

    variables: int = Field(description="variables, at most roughly")
    integer_variables: int = Field(description="integer variables, at most roughly")
    nonzeros: int = Field(description="nonzeros of the constraint matrix, at most roughly")
    constraints: int = Field(description="constraints, at most roughly")


class JobView(BaseModel):
    """A job and where it stands."""

    id: str = Field(description="job id")
    status: JobState = Field(description="queued, running, succeeded, failed or cancelled")
    plan_status: PlanState | None = Field(
        None, description="the solver's answer once finished: optimal, feasible, infeasible,"
        " no_solution or cancelled")
    created_at: datetime = Field(description="when the job was submitted")
    started_at: datetime | None = Field(None, description="when its latest run started")
    finished_at: datetime | None = Field(None, description="when it finished")
    attempts: int = Field(description="runs started (more than one after a lost worker)")
    time_limit_s: float = Field(description="solver time limit in force")
    options: JobOptions = Field(description="the options as submitted")
    dataset: DatasetRef | None = Field(None, description="the dataset solved, if one was")
    estimated_variables: int = Field(description="model variables, estimated before building")
    progress: Progress = Field(description="best plan, bound, gap and time so far")
    error: str | None = Field(None, description="why the job failed, when it did")
    warnings: list[str] = Field(
        default_factory=list, description="remarks on the instance that are not errors: those"
        " of the dataset version solved (from reading its upload) and of validating it")
    links: JobLinks = Field(description="related resources")


class JobPage(BaseModel):
    """One page of jobs, newest first."""

    items: list[JobView] = Field(description="the jobs of this page")
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page")
    next: str | None = Field(None, description="URL of the next page")


class ContractErrorView(BaseModel):
    """One problem in the input, located in the data contract."""

    table: str = Field(description="table (or `settings`)")
    row: int | None = Field(None, description="1-based data row, when the problem is in a row")
    column: str | None = Field(None, description="column, when the problem is in one")
    message: str = Field(description="what is wrong")
    loc: list[str | int] = Field(description="JSON path of the bad value in the request")


class ValidateRequest(Body):
    """An instance to check without solving it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"instance": EXAMPLE_INSTANCE}]})

    instance: Instance = Field(description="the instance to check")


class ValidationReport(BaseModel):
    """The verdict on an instance."""

    valid: bool = Field(description="true when the instance can be solved")
    errors: list[ContractErrorView] = Field(
        description="the problems found, all at once (the first `max_errors_shown`)")
    error_count: int = Field(0, description="how many problems were found in all")
    errors_by_kind: dict[str, int] = Field(
        default_factory=dict, description="problems per kind (`table.column`)")
    counts: dict[str, int] = Field(description="rows per table")
    estimate: SizeView | None = Field(None, description="model size, when the input is valid")
    fits: bool | None = Field(None, description="whether the model is within the server's"
                              " size limits (variables and nonzeros)")
    warnings: list[str] = Field(
        default_factory=list, description="remarks that are not errors (components no BOM row"
        " uses), when the input is valid")


class DatasetCreate(Body):
    """A named instance to store; posting an existing name adds a version."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"name": "two-sites", "instance": EXAMPLE_INSTANCE,
                      "note": "first draft"}]})

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="name, unique within the tenant")
    instance: Instance = Field(description="the instance")
    note: str = Field("", max_length=500, description="what changed in this version")


class DatasetVersionCreate(Body):
    """A new version of a stored dataset."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"instance": EXAMPLE_INSTANCE, "note": "B cheaper"},
                     {"changes": [{"table": "demand", "where": {"customer": "X"},
                                   "scale": {"quantity": 1.2}}], "note": "X +20 %"}]})

    instance: Instance | None = Field(None, description="the instance (or give `changes`)")
    changes: list[Change] | None = Field(
        None, min_length=1, max_length=10_000,
        description="changes to the latest version, in the what-if variants format (table,"
        " where, and one of set, scale, add, delete, append; or settings), applied in order")
    note: str = Field("", max_length=500, description="what changed in this version")

    @model_validator(mode="after")
    def _instance_or_changes(self) -> DatasetVersionCreate:
        if (self.instance is None) == (self.changes is None):
            raise ValueError("give either instance or changes")
        return self


class DatasetVersionView(BaseModel):
    """One stored version."""

    version: int = Field(description="version number, from 1")
    created_at: datetime = Field(description="when it was stored")
    note: str = Field(description="what changed")
    input_hash: str = Field(description="SHA-256 of the instance's canonical JSON")
    counts: dict[str, int] = Field(description="rows per table")
    warnings: list[str] = Field(
        default_factory=list, description="remarks on the input that are not errors (a table"
        " or sheet read without rows, components no BOM row uses), from reading the upload"
        " and validating it")


class DatasetView(BaseModel):
    """A stored dataset and its versions."""

    id: str = Field(description="dataset id")
    name: str = Field(description="name, unique within the tenant")
    created_at: datetime = Field(description="when the first version was stored")
    latest_version: int = Field(description="the newest version")
    versions: list[DatasetVersionView] = Field(description="every version, oldest first")


class DatasetPage(BaseModel):
    """Datasets of the tenant, newest first."""

    items: list[DatasetView] = Field(description="datasets")


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"] = Field(description="always ok while the process answers")


class Readiness(BaseModel):
    """Readiness: the store, its schema and the executor."""

    status: Literal["ready", "not_ready"] = Field(description="ready when every check passes")
    checks: dict[str, str] = Field(description="each check and its outcome")


class Problem(BaseModel):
    """An error."""

    detail: str | list[dict[str, Any]] = Field(description="what went wrong")
