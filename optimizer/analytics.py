"""Tariff-risk analytics (docs/analytics.md): the value of the stochastic solution and of
perfect information on the expected-cost objective (Birge & Louveaux), the cost-risk
frontier, break-even tariff rates and the value of each candidate site.

Every figure comes from ordinary solves of changed instances (`optimizer.variants` changes,
and `SolveOptions.first_stage` where decisions are held fixed), run in a process pool.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from reshore.optimizer.decisions import FirstStage, SiteDecision, first_stage_of
from reshore.optimizer.results import Plan
from reshore.optimizer.schema import ANY, Network, parse_network
from reshore.optimizer.variants import (
    Change,
    Variant,
    VariantError,
    apply_variant,
    expected_cost_network,
    scenario_alone,
    with_risk,
)
from reshore.optimizer.whatif import NO_LIMITS, Job, RunOutcome, SolveLimits, solve_all

EXPECTED_VALUE_SCENARIO = "expected_value"
DEFAULT_RISK_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
Progress = Callable[[str], None]
OnStart = Callable[[Job], None]


class AnalysisFailed(RuntimeError):  # noqa: N818 - reads as a domain answer
    """A solve the analysis needs found no plan."""


# --- instances derived from the input -----------------------------------------------------------


def _scenario_demand(network: Network) -> dict[tuple[str, str, str], dict[str, float]]:
    """Demand per (customer, product, period) and scenario: a named scenario's row replaces
    the `*` row."""
    scenarios = [s.scenario for s in network.scenarios]
    demand: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for row in network.demand:
        if row.scenario == ANY:
            key = (row.customer, row.product, row.period)
            for s in scenarios:
                demand[key].setdefault(s, row.quantity)
    for row in network.demand:
        if row.scenario != ANY:
            demand[row.customer, row.product, row.period][row.scenario] = row.quantity
    return demand


def expected_value_network(network: Network) -> Network:
    """The expected-value problem: one scenario whose demand is the probability-weighted
    demand and whose tariff rows are the `*` rows plus every scenario's rows at p_s x rate
    (rows with the same key add up, as matching rows do)."""
    probability = {s.scenario: s.probability for s in network.scenarios}
    tables = expected_cost_network(network).to_tables()
    tables["scenarios"] = [{"scenario": EXPECTED_VALUE_SCENARIO, "probability": 1.0,
                            "description": "probability-weighted tariffs and demand"}]
    demand = _scenario_demand(network)
    tables["demand"] = [
        {"customer": c, "product": p, "period": t, "scenario": ANY,
         "quantity": sum(probability[s] * q for s, q in by_scenario.items())}
        for (c, p, t), by_scenario in demand.items()]
    rates: dict[tuple[Any, ...], float] = defaultdict(float)
    for row in network.tariffs:
        weight = 1.0 if row.scenario == ANY else probability[row.scenario]
        rates[row.origin_country, row.destination_country, row.tariff_class,
              row.from_period] += weight * row.rate
    tables["tariffs"] = [
        {"scenario": ANY, "origin_country": o, "destination_country": d, "tariff_class": c,
         "from_period": t, "rate": rate} for (o, d, c, t), rate in rates.items()]
    return parse_network(tables)


# --- value of the stochastic solution and of perfect information --------------------------------


@dataclass
class StochasticValue:
    """rp, ws, ev, eev, evpi = rp - ws, vss = eev - rp (Birge & Louveaux), all on the
    expected-cost objective; per-scenario wait-and-see optima and the first-stage decisions of
    the recourse and expected-value problems in words."""

    rp: float
    ws: float
    ev: float
    eev: float
    evpi: float
    vss: float
    ws_by_scenario: dict[str, float]
    rp_decisions: str
    ev_decisions: str


def _objective(outcome: RunOutcome, what: str) -> float:
    plan = outcome.plan
    if plan is None or plan.objective is None or not plan.has_solution or (
            outcome.check_ok is False):
        raise AnalysisFailed(f"{what}: {outcome.status}"
                             + (f" ({outcome.reason})" if outcome.reason else ""))
    return float(plan.objective)


def _plan(outcome: RunOutcome, what: str) -> Plan:
    _objective(outcome, what)
    assert outcome.plan is not None
    return outcome.plan


def decisions_in_words(decisions: FirstStage) -> str:
    """The sites opened and closed, and the qualified offers, in words."""
    parts = [f"{site} {d.in_words()}" for site, d in decisions.sites.items()
             if d.status in ("open", "closed")]
    if decisions.qualified_offers:
        parts.append("qualifies " + ", ".join(sorted(decisions.qualified_offers)))
    return "; ".join(parts) or "no site opened or closed"


def stochastic_value(network: Network, *, jobs: int = 2, limits: SolveLimits = NO_LIMITS,
                     progress: Progress | None = None,
                     on_start: OnStart | None = None) -> StochasticValue:
    """Solve the recourse problem, each scenario alone, and the expected-value problem; then
    the recourse problem with the expected-value problem's first-stage decisions held."""
    rp_network = expected_cost_network(network)
    ev_network = expected_value_network(network)
    work = [Job("rp", rp_network), Job("ev", ev_network),
            *(Job(f"ws:{s.scenario}", scenario_alone(network, s.scenario))
              for s in network.scenarios)]
    on_start = on_start or _starter(progress)
    outcomes = solve_all(work, jobs=jobs, limits=limits, on_done=_reporter(progress),
                         on_start=on_start)
    rp_plan = _plan(outcomes["rp"], "the recourse problem")
    ev_plan = _plan(outcomes["ev"], "the expected-value problem")
    ws_by_scenario = {s.scenario: _objective(outcomes[f"ws:{s.scenario}"],
                                             f"scenario {s.scenario} alone")
                      for s in network.scenarios}
    ev_decisions = first_stage_of(ev_plan)
    eev_outcome = solve_all([Job("eev", rp_network, ev_decisions)], jobs=1, limits=limits,
                            on_done=_reporter(progress), on_start=on_start)["eev"]
    eev = (_objective(eev_outcome, "the expected-value decisions")
           if eev_outcome.plan is not None and eev_outcome.plan.status != "infeasible"
           else math.inf)
    rp = float(rp_plan.objective or 0.0)
    ws = sum(s.probability * ws_by_scenario[s.scenario] for s in network.scenarios)
    return StochasticValue(rp=rp, ws=ws, ev=float(ev_plan.objective or 0.0), eev=eev,
                           evpi=rp - ws, vss=eev - rp, ws_by_scenario=ws_by_scenario,
                           rp_decisions=decisions_in_words(first_stage_of(rp_plan)),
                           ev_decisions=decisions_in_words(ev_decisions))


def _starter(progress: Progress | None, planned: int | None = None) -> OnStart | None:
    """Says which sub-solve starts (solves in this process only, see `solve_all`), numbered
    out of `planned` when given."""
    if progress is None:
        return None
    report, started = progress, [0]

    def start(job: Job) -> None:
        started[0] += 1
        of = f" of at most {planned}" if planned is not None else ""
        report(f"  sub-solve {started[0]}{of}: {job.name}")

    return start


def _reporter(progress: Progress | None) -> Callable[[RunOutcome], None] | None:
    if progress is None:
        return None
    report = progress

    def done(outcome: RunOutcome) -> None:
        objective = outcome.plan.objective if outcome.plan is not None else None
        shown = f"{objective:,.0f}" if objective is not None else outcome.reason[:100]
        report(f"  {outcome.name}: {outcome.status}, {shown} in {outcome.wall_s:.1f} s")

    return done


# --- cost-risk frontier -------------------------------------------------------------------------


@dataclass
class FrontierPoint:
    """One risk weight's optimum: expected cost, CVaR, first-stage decisions, dominance.
    A weight whose solve found no plan keeps its status and reason, with no figures."""

    weight: float
    expected_cost: float | None
    cvar: float | None
    decisions: str
    dominated: bool = False
    status: str = "optimal"
    reason: str = ""


def mark_dominated(points: Sequence[FrontierPoint], tolerance: float = 1e-6) -> None:
    """A point is dominated when another has expected cost and CVaR no higher, one of them
    lower (beyond a relative tolerance)."""
    def lower(a: float, b: float) -> bool:
        return a < b - tolerance * max(1.0, abs(b))

    def no_higher(a: float, b: float) -> bool:
        return a <= b + tolerance * max(1.0, abs(b))

    solved = [(p, p.expected_cost, p.cvar) for p in points
              if p.expected_cost is not None and p.cvar is not None]
    for point, expected, cvar in solved:
        point.dominated = any(
            no_higher(e, expected) and no_higher(c, cvar)
            and (lower(e, expected) or lower(c, cvar))
            for other, e, c in solved if other is not point)


def frontier(network: Network, weights: Sequence[float] = DEFAULT_RISK_WEIGHTS, *,
             jobs: int = 2, limits: SolveLimits = NO_LIMITS,
             progress: Progress | None = None,
             on_start: OnStart | None = None) -> list[FrontierPoint]:
    """Expected cost against CVaR (at the instance's alpha) for each risk weight lambda of the
    objective (1 - lambda) E[cost] + lambda CVaR[cost]."""
    work = [Job(f"weight={w:g}", with_risk(network, "cvar", w)) for w in weights]
    outcomes = solve_all(work, jobs=jobs, limits=limits, on_done=_reporter(progress),
                         on_start=on_start or _starter(progress))
    points = []
    for w, job in zip(weights, work, strict=True):
        outcome = outcomes[job.name]
        plan = outcome.plan
        if plan is None or not plan.has_solution or outcome.check_ok is False:
            points.append(FrontierPoint(w, None, None, "", status=outcome.status,
                                        reason=outcome.reason))
            continue
        points.append(FrontierPoint(w, plan.expected_cost(), plan.cvar(),
                                    decisions_in_words(first_stage_of(plan)),
                                    status=outcome.status))
    mark_dominated(points)
    return points


# --- break-even tariff --------------------------------------------------------------------------


@dataclass
class BreakEven:
    """The rate of an extra tariff on an origin country (and class) at which the first-stage
    decisions change: between `below` and `above`, at most `tolerance` apart."""

    origin_country: str
    tariff_class: str
    rate: float | None
    below: float
    above: float
    tolerance: float
    decisions_below: str
    decisions_above: str
    solves: int = 0


def with_extra_tariff(network: Network, origin_country: str, rate: float,
                      tariff_class: str = ANY) -> Network:
    """The instance with one more tariff row: goods of `origin_country` (and class) entering
    any other country pay `rate` more, in every scenario and period."""
    change = Change(table="tariffs", append=[{
        "scenario": ANY, "origin_country": origin_country, "destination_country": ANY,
        "tariff_class": tariff_class, "rate": rate}])
    return apply_variant(network, Variant(f"{origin_country} +{rate:g}", (change,))).network


def break_even_rate(network: Network, origin_country: str, *, tariff_class: str = ANY,
                    low: float = 0.0, high: float = 1.0, tolerance: float = 0.005,
                    limits: SolveLimits = NO_LIMITS,
                    progress: Progress | None = None,
                    on_start: OnStart | None = None) -> BreakEven:
    """Bisection on the extra rate between `low` and `high` until the rates on both sides of
    a change of first-stage decisions are at most `tolerance` apart. When the decisions at
    `low` and `high` are the same, `rate` is None (no change found in the range)."""
    solves = [0]

    def decisions(rate: float) -> FirstStage:
        name = f"{origin_country} +{rate:.4g}"
        outcome = solve_all([Job(name, with_extra_tariff(network, origin_country, rate,
                                                         tariff_class))],
                            jobs=1, limits=limits, on_done=_reporter(progress),
                            on_start=on_start or _starter(progress))[name]
        solves[0] += 1
        return first_stage_of(_plan(outcome, f"extra tariff {rate:g} on {origin_country}"))

    at_low, at_high = decisions(low), decisions(high)
    if at_low == at_high:
        return BreakEven(origin_country, tariff_class, None, low, high, tolerance,
                         decisions_in_words(at_low), decisions_in_words(at_high), solves[0])
    while high - low > tolerance:
        middle = (low + high) / 2
        at_middle = decisions(middle)
        if at_middle == at_low:
            low = middle
        else:
            high, at_high = middle, at_middle
    return BreakEven(origin_country, tariff_class, (low + high) / 2, low, high, tolerance,
                     decisions_in_words(at_low), decisions_in_words(at_high), solves[0])


# --- site value ---------------------------------------------------------------------------------


@dataclass
class SiteValue:
    """Objective increase when a candidate site is forbidden (>= 0: what the site is worth
    to the plan) and objective decrease when it is forced open (<= 0 at optimality: minus
    what forcing it open costs)."""

    site: str
    base_decision: str
    increase_if_forbidden: float | None
    decrease_if_forced_open: float | None
    forbidden_status: str = ""
    forced_status: str = ""


def forbid_site(network: Network, site: str) -> Network:
    """The instance without the site (its tiers, lanes and production costs go with it)."""
    change = Change(table="sites", where={"site": site}, delete=True)
    return apply_variant(network, Variant(f"without {site}", (change,))).network


def site_values(network: Network, *, jobs: int = 2, limits: SolveLimits = NO_LIMITS,
                progress: Progress | None = None,
                on_start: OnStart | None = None) -> list[SiteValue]:
    """For every candidate site: solve without it and with it forced open (at the tier and
    period the solver finds best), against the base optimum. A solve without a plan leaves
    its figure None (its status is kept), and so does every figure when the base has none."""
    candidates = network.candidate_sites()
    work = [Job("base", network)]
    invalid: dict[str, RunOutcome] = {}
    for site in candidates:
        try:
            work.append(Job(f"forbid:{site}", forbid_site(network, site)))
        except VariantError as error:  # e.g. the only site: no instance is left
            invalid[f"forbid:{site}"] = RunOutcome(
                f"forbid:{site}", None, job_status="invalid",
                reason="; ".join(error.problems))
        work.append(Job(f"force:{site}", network,
                        FirstStage(sites={site: SiteDecision("open")})))
    outcomes = solve_all(work, jobs=jobs, limits=limits, on_done=_reporter(progress),
                         on_start=on_start or _starter(progress)) | invalid
    base_outcome = outcomes["base"]
    base_plan = base_outcome.plan
    solved = base_plan is not None and base_plan.has_solution and base_plan.objective is not None
    base = float(base_plan.objective or 0.0) if base_plan is not None else 0.0
    decided = first_stage_of(base_plan).sites if base_plan is not None and solved else {}
    values = []
    for site in candidates:
        forbidden, forced = outcomes[f"forbid:{site}"], outcomes[f"force:{site}"]
        values.append(SiteValue(
            site=site, base_decision=decided[site].in_words() if site in decided else (
                f"base {base_outcome.status}"),
            increase_if_forbidden=_difference(forbidden, base, +1) if solved else None,
            decrease_if_forced_open=_difference(forced, base, -1) if solved else None,
            forbidden_status=_status(forbidden), forced_status=_status(forced)))
    return values


def _status(outcome: RunOutcome) -> str:
    """A solve's status, with its reason when it has no plan."""
    plan = outcome.plan
    if (plan is None or not plan.has_solution) and outcome.reason:
        return f"{outcome.status}: {outcome.reason}"
    return outcome.status


def _difference(outcome: RunOutcome, base: float, sign: int) -> float | None:
    plan = outcome.plan
    if plan is None or plan.objective is None or not plan.has_solution:
        return None
    return sign * (float(plan.objective) - base)


# --- everything at once -------------------------------------------------------------------------


@dataclass
class Analysis:
    """The whole analysis of one instance, as `reshore analyze --json` prints it."""

    stochastic: StochasticValue
    frontier: list[FrontierPoint]
    break_even: list[BreakEven] = field(default_factory=list)
    site_values: list[SiteValue] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        value = asdict(self.stochastic)
        return {
            **{k: _finite(value[k]) for k in ("rp", "ws", "ev", "eev", "evpi", "vss")},
            "ws_by_scenario": value["ws_by_scenario"],
            "rp_decisions": value["rp_decisions"],
            "ev_decisions": value["ev_decisions"],
            "frontier": [asdict(p) for p in self.frontier],
            "break_even": [asdict(b) for b in self.break_even],
            "site_values": [asdict(v) for v in self.site_values],
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def bisection_solves(max_rate: float, tolerance: float, low: float = 0.0) -> int:
    """Solves of one break-even search at most: both ends, then one per halving until the
    ends are at most `tolerance` apart."""
    return 2 + max(0, math.ceil(math.log2((max_rate - low) / tolerance)))


def planned_solves(network: Network, *, break_even_countries: Sequence[str] = (),
                   tolerance: float = 0.005, max_rate: float = 1.0,
                   weights: Sequence[float] = DEFAULT_RISK_WEIGHTS,
                   with_site_values: bool = True) -> int:
    """Solves `analyze` runs at most on `network` (`solve_count`)."""
    return solve_count(len(network.scenarios), len(network.candidate_sites()),
                       break_even_countries=break_even_countries, tolerance=tolerance,
                       max_rate=max_rate, weights=weights, with_site_values=with_site_values)


def solve_count(scenarios: int, candidates: int, *, break_even_countries: Sequence[str] = (),
                tolerance: float = 0.005, max_rate: float = 1.0,
                weights: Sequence[float] = DEFAULT_RISK_WEIGHTS,
                with_site_values: bool = True) -> int:
    """Solves `analyze` runs at most for an instance of `scenarios` scenarios and `candidates`
    candidate sites: rp, ev, one per scenario, eev; one per risk weight; one break-even search
    per country; the base and two per candidate site."""
    return (3 + scenarios + len(weights)
            + len(break_even_countries) * bisection_solves(max_rate, tolerance)
            + ((1 + 2 * candidates) if with_site_values else 0))


def analyze(network: Network, *, break_even_countries: Sequence[str] = (),
            tariff_class: str = ANY, tolerance: float = 0.005, max_rate: float = 1.0,
            weights: Sequence[float] = DEFAULT_RISK_WEIGHTS, with_site_values: bool = True,
            jobs: int = 2, limits: SolveLimits = NO_LIMITS,
            progress: Progress | None = None) -> Analysis:
    """EVPI and VSS, the frontier, break-even rates for the given countries, site values.
    `progress` hears of each part and each solve as it ends, and, for solves in this process
    (`jobs` 1), of each solve as it starts ("sub-solve 3 of at most 24: ws:boom")."""
    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    planned = planned_solves(network, break_even_countries=break_even_countries,
                             tolerance=tolerance, max_rate=max_rate, weights=weights,
                             with_site_values=with_site_values)
    on_start = _starter(progress, planned)
    say("value of the stochastic solution and of perfect information")
    stochastic = stochastic_value(network, jobs=jobs, limits=limits, progress=progress,
                                  on_start=on_start)
    say("cost-risk frontier")
    points = frontier(network, weights, jobs=jobs, limits=limits, progress=progress,
                      on_start=on_start)
    rates = []
    for country in break_even_countries:
        say(f"break-even tariff on {country}")
        rates.append(break_even_rate(network, country, tariff_class=tariff_class,
                                     high=max_rate, tolerance=tolerance, limits=limits,
                                     progress=progress, on_start=on_start))
    values = []
    if with_site_values:
        say("site values")
        values = site_values(network, jobs=jobs, limits=limits, progress=progress,
                             on_start=on_start)
    return Analysis(stochastic, points, rates, values)
