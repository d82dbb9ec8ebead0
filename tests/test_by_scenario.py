"""The LP relaxation one scenario at a time: its bound is the risk objective of the
scenarios' bounds, never above the whole model's relaxation, and the solve path through it
reaches the plain MIP's optimum."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reshore.data.synthetic import generate
from reshore.models import network_design
from reshore.optimizer.decisions import FirstStage, first_stage_of
from reshore.optimizer.heuristics import family_columns, solve_relaxation
from reshore.optimizer.prepare import prepare
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.schema import Network, RiskSettings
from reshore.optimizer.solve import to_highs_lp
from reshore.optimizer.solve.by_scenario import relaxation_by_scenario, risk_objective
from reshore.optimizer.solve.handoff import LpArrays
from reshore.optimizer.solve.progress import Deadline
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

    def solve_lp(arrays: LpArrays) -> tuple[float, np.ndarray | None]:
        return solve_relaxation(arrays, time_limit=None, options={"threads": 1},
                                stop=lambda: False)

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


@pytest.mark.parametrize("module", ["reshore.optimizer.heuristics",
                                    "reshore.optimizer.solve.by_scenario",
                                    "reshore.optimizer.solve.phases"])
def test_each_solve_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
