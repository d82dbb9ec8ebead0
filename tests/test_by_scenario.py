"""The LP relaxation one scenario at a time: its bound is the risk objective of the
scenarios' bounds, never above the whole model's relaxation, and the solve path through it
reaches the plain MIP's optimum. The starts' flows one scenario at a time: a plan of the
whole model, never below the whole model's restricted LP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from reshore.data.synthetic import generate
from reshore.models import network_design
from reshore.optimizer.decisions import FirstStage, first_stage_of
from reshore.optimizer.heuristics import (
    Fixing,
    Start,
    family_columns,
    greedy_fixings,
    solve_relaxation,
    solve_restricted,
)
from reshore.optimizer.prepare import prepare
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.schema import ANY, Demand, Network, RiskSettings
from reshore.optimizer.solve import to_highs_lp
from reshore.optimizer.solve.by_scenario import (
    MONEY_FAMILIES,
    plan_by_scenario,
    relax_alone,
    relaxation_by_scenario,
    risk_objective,
)
from reshore.optimizer.solve.handoff import LpArrays
from reshore.optimizer.solve.progress import Deadline
from reshore.optimizer.solve.spread import Answer, ScenarioBound
from reshore.optimizer.variants import least_demand_alone, least_demand_scenario
from tests.conftest import EXACT, solve_checked

BY_SCENARIO = replace(EXACT, starts_min_columns=0, starts_min_integers=0,
                      scenario_relaxation_min_columns=0)
"""The starts on every model, the relaxation one scenario at a time."""
PLAIN = replace(EXACT, construct_start=False, lp_guided_start=False)


def test_risk_objective_worked_by_hand() -> None:
    costs, p = np.array([10.0, 20.0, 30.0]), np.array([0.5, 0.3, 0.2])
    expected = 0.5 * 10 + 0.3 * 20 + 0.2 * 30  # 17
    assert risk_objective(costs, p, RiskSettings(measure="expected")) == pytest.approx(17.0)
    # the worst 40 %: all of the 30 (0.2) and 0.2 of the 20, so (6 + 4) / 0.4 = 25
    cvar = RiskSettings(measure="cvar", alpha=0.6, weight=1.0)
    assert risk_objective(costs, p, cvar) == pytest.approx(25.0)
    mixed = RiskSettings(measure="cvar", alpha=0.6, weight=0.3)
    assert risk_objective(costs, p, mixed) == pytest.approx(0.7 * expected + 0.3 * 25.0)
    worst = RiskSettings(measure="worst_case", weight=0.5)
    assert risk_objective(costs, p, worst) == pytest.approx(0.5 * expected + 0.5 * 30.0)


def _bound_by_scenario(network: Network) -> float:
    data = prepare(network)
    built = network_design.build(data)
    handoff = to_highs_lp(built)
    log: list[str] = []

    def solve_lp(arrays: LpArrays, stop: Callable[[], bool] | None = None
                 ) -> tuple[float, np.ndarray | None]:
        return solve_relaxation(arrays, time_limit=None, options={"threads": 1},
                                stop=stop or (lambda: False))

    bound, x = relaxation_by_scenario(
        network, built, family_columns(built, handoff.columns), handoff.lp.num_col_,
        data.money_unit, solve_lp=solve_lp, stop=lambda: False, deadline=Deadline(None),
        log=log)
    assert x is not None and len(log) == len(network.scenarios)
    return bound * data.money_unit


def _whole_relaxation(network: Network) -> float:
    data = prepare(network)
    arrays = to_highs_lp(network_design.build(data)).arrays
    bound, _ = solve_relaxation(arrays, time_limit=None, options={"threads": 1},
                                stop=lambda: False)
    return bound * data.money_unit


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("measure", ["expected", "cvar", "worst_case"])
def test_the_bound_by_scenario_is_below_the_whole_relaxation_and_the_optimum(
        seed: int, measure: str) -> None:
    network = generate("tiny", seed)
    network = network.model_copy(update={"settings": network.settings.model_copy(update={
        "risk": RiskSettings(measure=measure, alpha=0.7, weight=0.4)})})
    by_scenario = _bound_by_scenario(network)
    whole = _whole_relaxation(network)
    optimum = solve_checked(network, PLAIN)
    assert optimum.status is PlanStatus.OPTIMAL and optimum.objective is not None
    assert by_scenario <= whole * (1 + 1e-7) + 1e-6
    assert whole <= optimum.objective * (1 + 1e-7) + 1e-6
    assert by_scenario > 0


@pytest.mark.parametrize("seed", [1, 3])
@pytest.mark.parametrize(("threads", "beside"), [(1, True), (2, True), (2, False)])
def test_the_solve_through_the_relaxation_by_scenario_reaches_the_plain_optimum(
        seed: int, threads: int, beside: bool) -> None:
    """One thread; the relaxation beside the construction, its scenarios one after the
    other; after the construction, its scenarios on two threads."""
    network = generate("tiny", seed)
    plain = solve_checked(network, PLAIN)
    plan = solve_checked(network, replace(BY_SCENARIO, threads=threads,
                                          concurrent_relaxation=beside))
    assert plan.status is PlanStatus.OPTIMAL
    assert plan.objective == pytest.approx(plain.objective, rel=1e-7)
    assert sum(line.startswith("LP relaxation by scenario:") for line in plan.log) == len(
        network.scenarios)


def test_fixed_decisions_keep_the_whole_relaxation() -> None:
    """With first-stage decisions imposed, a scenario alone would not know them: the
    relaxation stays the whole model's."""
    network = generate("tiny", 3)
    fixed = first_stage_of(solve_checked(network, PLAIN))
    plan = solve_checked(network, replace(BY_SCENARIO, first_stage=FirstStage(
        sites=fixed.sites)))
    assert not any(line.startswith("LP relaxation by scenario") for line in plan.log)
    assert any(line.startswith("LP relaxation: bound") for line in plan.log)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_cancel_after_the_first_scenario_stops_the_relaxation_by_scenario(
        threads: int) -> None:
    """Cancelled once the progress tells of the first scenario's LP: no further scenario is
    solved, and the best plan so far (the construction's) comes back checked."""
    heard: list[str] = []

    def first_scenario_heard() -> bool:
        return any("LP relaxation by scenario" in line for line in heard)

    plan = solve_checked(generate("S", 1), replace(
        BY_SCENARIO, threads=threads, progress=heard.append, should_stop=first_scenario_heard))
    assert plan.status is PlanStatus.CANCELLED
    assert sum(line.startswith("LP relaxation by scenario:") for line in plan.log) == 1
    assert sum("LP relaxation by scenario" in line for line in heard) == 1


def _demand_by_scenario(network: Network, factors: dict[str, list[float]],
                        commit_periods: int = 1) -> Network:
    """`network` with each scenario's demand its `*` demand times the scenario's factor of
    the period, and `commit_periods` committed periods."""
    periods = network.settings.periods
    demand = [Demand(customer=d.customer, product=d.product, period=d.period,
                     quantity=round(d.quantity * factors[s][periods.index(d.period)]),
                     scenario=s)
              for d in network.demand if d.scenario == ANY for s in factors]
    settings = network.settings.model_copy(update={"commit_periods": commit_periods})
    return Network.model_validate({**network.model_dump(), "demand": demand,
                                   "settings": settings.model_dump()})


def test_least_demand_worked_by_hand() -> None:
    network = generate("tiny", 1)
    assert least_demand_scenario(network) == "calm"  # every scenario has the same demand
    below = _demand_by_scenario(network, {"calm": [1.0, 1.0], "escalation": [0.5, 1.0]})
    assert least_demand_scenario(below) == "escalation"
    crossing = _demand_by_scenario(network, {"calm": [1.2, 0.8], "escalation": [0.6, 1.3]})
    assert least_demand_scenario(crossing) is None
    least = least_demand_alone(crossing)
    assert [s.scenario for s in least.scenarios] == ["calm"]
    assert least.settings.risk.measure == "expected"
    shared = {(d.customer, d.product, d.period): d.quantity for d in network.demand}
    periods = network.settings.periods
    for d in least.demand:
        assert d.scenario == ANY
        base = shared[(d.customer, d.product, d.period)]
        factor = [0.6, 0.8][periods.index(d.period)]
        assert d.quantity == min(round(base * 1.2), round(base * 0.6)) if factor == 0.6 \
            else min(round(base * 0.8), round(base * 1.3))


def _greedy_plans(network: Network) -> tuple[float, float]:
    """The greedy construction's plan: its flows one scenario at a time, then the whole
    model's restricted LP (objectives in model units), and with every flow solved by the
    whole model's restricted LP."""
    data = prepare(network)
    built = network_design.build(data)
    handoff = to_highs_lp(built)
    families = family_columns(built, handoff.columns)
    [greedy] = greedy_fixings(built, data, families)
    log: list[str] = []

    def solve_fixed(arrays: LpArrays, fixing: Fixing) -> Start | None:
        # no thread count: HiGHS's scheduler may run with the count of an earlier solve
        return solve_restricted(arrays, fixing, time_limit=None, options={},
                                stop=lambda: False, log=log)

    split = plan_by_scenario(network, built, families, handoff.lp.num_col_, greedy,
                             solve_fixed=solve_fixed, stop=lambda: False, log=log)
    assert split is not None, log
    money = sum(family.size for name, family in built.families.items()
                if name in MONEY_FAMILIES)
    assert split.columns.size >= handoff.lp.num_col_ - money
    by_scenario = solve_fixed(handoff.arrays, split)
    whole = solve_fixed(handoff.arrays, greedy)
    assert by_scenario is not None and whole is not None, log
    return by_scenario.objective, whole.objective


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("factors", "commit_periods"), [
    (None, 1),
    ({"calm": [1.2, 0.8], "escalation": [0.6, 1.3]}, 1),  # no scenario of least demand
    ({"calm": [1.0, 1.1], "escalation": [0.7, 0.9]}, 2),  # escalation's is least
    ({"calm": [1.2, 0.8], "escalation": [0.6, 1.3]}, 0),
])
def test_the_flows_of_a_start_by_scenario_are_a_plan_of_the_whole_model(
        seed: int, factors: dict[str, list[float]] | None, commit_periods: int) -> None:
    """With its flows held, the whole model's restricted LP still has a plan (every row,
    the committed periods' among them, holds), no cheaper than the whole model's own."""
    network = generate("tiny", seed)
    if factors is not None:
        network = _demand_by_scenario(network, factors, commit_periods)
    by_scenario, whole = _greedy_plans(network)
    assert by_scenario >= whole * (1 - 1e-7) - 1e-6


@pytest.mark.parametrize("seed", [0, 2])
def test_the_solve_with_demand_by_scenario_reaches_the_plain_optimum(seed: int) -> None:
    network = _demand_by_scenario(generate("tiny", seed),
                                  {"calm": [1.2, 0.8], "escalation": [0.6, 1.3]})
    plain = solve_checked(network, PLAIN)
    plan = solve_checked(network, replace(BY_SCENARIO, threads=1))
    assert plan.status is PlanStatus.OPTIMAL
    assert plan.objective == pytest.approx(plain.objective, rel=1e-7)
    assert any(line.startswith("greedy construction, by scenario: plan") for line in plan.log)
    assert any("(least demand)" in line for line in plan.log)


def test_a_cancel_after_the_first_scenario_stops_the_flows_by_scenario() -> None:
    """Cancelled once the progress tells of the greedy construction's first scenario: no
    further scenario is solved, and the idle plan comes back checked."""
    heard: list[str] = []

    def first_scenario_heard() -> bool:
        return any("greedy construction: " in line for line in heard)

    plan = solve_checked(generate("S", 1), replace(
        BY_SCENARIO, threads=1, progress=heard.append, should_stop=first_scenario_heard))
    assert plan.status is PlanStatus.CANCELLED
    assert sum("greedy construction: " in line for line in heard) == 1
    assert not any(line.startswith("greedy construction, by scenario: plan")
                   for line in plan.log)
    assert plan.has_solution  # the idle plan


@pytest.mark.parametrize("module", ["reshore.optimizer.heuristics",
                                    "reshore.optimizer.solve.by_scenario",
                                    "reshore.optimizer.solve.phases"])
def test_each_solve_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr


class InProcessHelpers:
    """Helpers in this process (the service's are Celery workers, `tests/api/test_celery`):
    each offered scenario is taken at once and solved before `offer` returns, by the solve's
    own `relax_alone`; the scenarios in `lose` fail instead, and with `slow` no answer ever
    comes (a helper alive but slow); with `busy` no helper takes anything."""

    def __init__(self, lose: frozenset[str] = frozenset(), busy: bool = False,
                 slow: bool = False) -> None:
        self.lose, self.busy, self.slow = lose, busy, slow
        self.offered: list[str] = []
        self.answers: dict[str, ScenarioBound | None] = {}

    def offer(self, scenario: str, alone: Network, time_limit_s: float | None) -> None:
        self.offered.append(scenario)
        if self.busy or self.slow:
            return
        relaxed = None if scenario in self.lose else relax_alone(
            alone, lambda arrays: solve_relaxation(arrays, time_limit=time_limit_s,
                                                   options={"threads": 1},
                                                   stop=lambda: False))
        self.answers[scenario] = (None if relaxed is None
                                  else replace(relaxed, solved_by=f"helper {scenario}"))

    def take(self, scenario: str) -> bool:
        return self.busy

    def answer(self, scenario: str) -> tuple[Answer, ScenarioBound | None]:
        if scenario not in self.answers:
            return Answer.PENDING, None
        relaxed = self.answers[scenario]
        return (Answer.LOST, None) if relaxed is None else (Answer.DONE, relaxed)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("helpers", [
    InProcessHelpers(), InProcessHelpers(lose=frozenset({"escalation"})),
    InProcessHelpers(busy=True), InProcessHelpers(slow=True)],
    ids=["answered", "lost", "busy", "slow"])
def test_scenarios_spread_over_helpers_reach_the_plain_optimum(
        helpers: InProcessHelpers) -> None:
    """Every scenario but the first goes to a helper: solved there; lost there or never
    answered (the solve solves it itself meanwhile); or left because every helper is busy.
    The same optimum each way, the bounds by scenario the same as without helpers."""
    network = generate("tiny", 1)
    names = [s.scenario for s in network.scenarios]
    assert names == ["calm", "escalation"]
    plain = solve_checked(network, PLAIN)
    alone = solve_checked(network, replace(BY_SCENARIO, concurrent_relaxation=False))
    plan = solve_checked(network, replace(BY_SCENARIO, concurrent_relaxation=False,
                                          scenario_helpers=helpers))
    assert helpers.offered == names[1:]
    assert plan.status is PlanStatus.OPTIMAL
    assert plan.objective == pytest.approx(plain.objective, rel=1e-7)
    bounds = [line for line in plan.log if line.startswith("LP relaxation by scenario:")]
    assert len(bounds) == len(names)
    helped = {name for name in names[1:] if any(f"solved by helper {name}" in line
                                                for line in bounds)}
    answered = not (helpers.busy or helpers.slow or helpers.lose)
    assert helped == ({"escalation"} if answered else set())
    here = [line for line in plan.log if "LP relaxation solved here" in line]
    assert here == (["escalation's LP relaxation solved here, its helper failed or stopped"]
                    if helpers.lose else
                    ["escalation's LP relaxation solved here, before its helper answered"]
                    if helpers.slow else [])
    assert _relaxation_bound(plan.log) == pytest.approx(_relaxation_bound(alone.log),
                                                        rel=1e-6)


def _relaxation_bound(log: list[str]) -> list[float]:
    """The scenarios' bounds in the order of the log, by name."""
    found = sorted(line.split(" alone at least ")[0:2] for line in log
                   if line.startswith("LP relaxation by scenario:"))
    return [float(after.split(" ")[0].replace(",", "")) for _, after in found]
