"""MIP starts: greedy construction, LP-guided fixing and a caller's start reach the plain
MIP's optimum, hand back checked plans when the solve is cut short, and obey cancel and time
limit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reshore.data.synthetic import generate
from reshore.models import network_design
from reshore.optimizer.heuristics import family_columns, greedy_fixings, idle_fixings
from reshore.optimizer.prepare import prepare
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.solve import SolveOptions, SolveProgress, solve, to_highs_lp
from tests.conftest import EXACT, solve_checked

STARTS = replace(EXACT, starts_min_columns=0, starts_min_integers=0)
"""The starts on every model, however small."""
PLAIN = replace(EXACT, construct_start=False, lp_guided_start=False)


@pytest.mark.parametrize("seed", [1, 3])
@pytest.mark.parametrize(("construct", "guided"), [(True, False), (False, True), (True, True)])
def test_each_start_reaches_the_plain_optimum(seed: int, construct: bool, guided: bool) -> None:
    network = generate("tiny", seed)
    plain = solve_checked(network, PLAIN)
    plan = solve_checked(network, replace(STARTS, construct_start=construct,
                                          lp_guided_start=guided))
    assert plain.status is PlanStatus.OPTIMAL and plan.status is PlanStatus.OPTIMAL
    assert plan.objective == pytest.approx(plain.objective, rel=1e-7)
    assert any(line.startswith(("greedy construction:", "LP rounding"))
               for line in plan.log)


@pytest.mark.parametrize("seed", [1, 3])
def test_the_relaxation_beside_the_starts_reaches_the_plain_optimum(seed: int) -> None:
    """Two threads: the relaxation runs on a thread of its own beside the construction;
    the LP-guided starts and the MIP reach the plain MIP's optimum."""
    network = generate("tiny", seed)
    plain = solve_checked(network, PLAIN)
    plan = solve_checked(network, replace(STARTS, threads=2))
    assert plan.status is PlanStatus.OPTIMAL
    assert plan.objective == pytest.approx(plain.objective, rel=1e-7)
    assert any(line.startswith("LP relaxation, beside the starts: bound") for line in plan.log)
    alone = solve_checked(network, replace(STARTS, threads=2, concurrent_relaxation=False))
    assert any(line.startswith("LP relaxation: bound") for line in alone.log)


def test_a_cancel_stops_the_relaxation_beside_the_starts() -> None:
    """Cancelled once the first plan exists, while the relaxation may still run on its own
    thread: the solve returns that plan, checked, and leaves no HiGHS thread behind."""
    import threading

    reports: list[SolveProgress] = []
    plan = solve_checked(generate("S", 1), replace(
        STARTS, threads=2, on_progress=reports.append,
        should_stop=lambda: any(r.best_objective is not None for r in reports)))
    assert plan.status is PlanStatus.CANCELLED
    assert not any(t.name == "reshore-relaxation" for t in threading.enumerate())


def test_greedy_opens_capacity_for_every_period_and_closes_nothing() -> None:
    data = prepare(generate("S", 1))
    built = network_design.build(data)
    families = family_columns(built, to_highs_lp(built).columns)
    fixing = greedy_fixings(built, data, families)[0]
    value = dict(zip(fixing.columns.tolist(), fixing.values.tolist(), strict=True))
    opened = [key for key, column in zip(built.var("open"), families["open"], strict=True)
              if value.get(int(column)) == 1.0]
    assert all(value[int(c)] == 0.0 for c in families["close"])
    assert len({site for site, _, _ in opened}) == len(opened)  # one start per site
    tiers = data.tiers.set_index(["site", "tier"]).capacity_hours
    hours = data.products.set_index("product").assembly_hours
    need = (data.demand.quantity * data.demand["product"].map(hours)).groupby(
        [data.demand.period, data.demand.scenario]).sum().groupby(level=0).max()
    existing = data.operating[data.operating.status == "existing"].groupby(
        "period").capacity_hours.sum()
    for t, hours_needed in need.items():
        capacity = existing.get(t, 0.0) + sum(tiers[k, tier] for k, tier, t0 in opened if t0 <= t)
        assert capacity >= hours_needed


def test_cancel_after_the_first_plan_returns_that_plan_checked() -> None:
    reports: list[SolveProgress] = []

    def found_a_plan() -> bool:
        return any(report.best_objective is not None for report in reports)

    plan = solve_checked(generate("S", 1), replace(
        STARTS, on_progress=reports.append, should_stop=found_a_plan))
    assert plan.status is PlanStatus.CANCELLED
    first = next(r.best_objective for r in reports if r.best_objective is not None)
    assert plan.objective == pytest.approx(first, rel=1e-9)
    assert any(line.startswith("idle plan: plan") for line in plan.log)


def test_the_idle_plan_builds_nothing_and_leaves_all_demand_unmet() -> None:
    """The first plan of a large model where demand may go unmet: no candidate opens,
    nothing is bought, made or shipped; the checker passes it (solve_checked)."""
    reports: list[SolveProgress] = []
    network = generate("S", 1)
    plan = solve_checked(network, replace(
        STARTS, on_progress=reports.append,
        should_stop=lambda: any(r.best_objective is not None for r in reports)))
    assert plan.status is PlanStatus.CANCELLED
    assert set(plan.tables["sites"].status) == {"existing", "not opened"}
    for table in ("sourcing", "production", "shipments"):
        assert plan.tables[table].empty
    data = prepare(network)
    demand = data.demand.groupby("scenario").quantity.sum()
    unmet = plan.tables["unmet"].groupby("scenario").quantity.sum()
    assert unmet.sort_index().to_numpy() == pytest.approx(demand.sort_index().to_numpy())


def test_no_idle_plan_where_all_demand_must_be_met() -> None:
    network = generate("S", 1)
    must_meet = network.model_copy(update={"settings": network.settings.model_copy(
        update={"unmet_penalty": None})})
    data = prepare(must_meet)
    built = network_design.build(data)
    handoff = to_highs_lp(built)
    assert idle_fixings(data, family_columns(built, handoff.columns), handoff.arrays) == []
    assert idle_fixings(prepare(network), family_columns(built, handoff.columns),
                        handoff.arrays) != []


def test_a_tiny_time_limit_stops_every_phase_and_reads_as_a_time_limit() -> None:
    plan = solve(generate("S", 1), replace(STARTS, time_limit_s=1e-3))
    assert plan.status in (PlanStatus.FEASIBLE, PlanStatus.NO_SOLUTION)
    if plan.status is PlanStatus.NO_SOLUTION:
        assert any("time limit" in reason for reason in plan.diagnosis)


def test_given_start_is_completed_and_the_solve_still_reaches_the_optimum() -> None:
    network = generate("tiny", 3)
    plain = solve_checked(network, PLAIN)
    data = prepare(network)
    no_new_site = {"open": {tuple(key): 0.0 for key in data.openings[
        ["site", "tier", "period"]].itertuples(index=False, name=None)}}
    plan = solve_checked(network, replace(PLAIN, mip_start=no_new_site))
    assert plan.objective == pytest.approx(plain.objective, rel=1e-7)
    assert any(line.startswith("given start: plan") for line in plan.log)


def test_given_start_naming_an_unknown_family_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="mip_start names 'sites'"):
        solve(generate("tiny", 3), replace(PLAIN, mip_start={"sites": {"site001": 1.0}}))
    with pytest.raises(ValueError, match="open has no member"):
        solve(generate("tiny", 3), replace(PLAIN, mip_start={"open": {("nowhere", "T1", 0): 1}}))


def test_family_columns_follow_declaration_order() -> None:
    built = network_design.build(prepare(generate("tiny", 3)))
    columns = to_highs_lp(built).columns
    families = family_columns(built, columns)
    for position, variable in enumerate(built.var("open").values()):
        assert columns[int(families["open"][position])] is variable
    assert np.all(families["open"] >= 0)


def test_start_options_out_of_range_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="start_share must be above 0 and at most 1, not 0"):
        SolveOptions(start_share=0)
    with pytest.raises(ValueError, match=r"restricted_gap must be at least 0, not -0\.1"):
        SolveOptions(restricted_gap=-0.1)


def test_lp_rounding_opens_once_each_site_the_relaxation_starts() -> None:
    import highspy

    from reshore.optimizer.heuristics import lp_guided_fixings

    data = prepare(generate("S", 1))
    built = network_design.build(data)
    handoff = to_highs_lp(built)
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.passModel(handoff.lp)
    h.setOptionValue("solve_relaxation", True)
    h.run()
    x_lp = np.asarray(h.getSolution().col_value)
    families = family_columns(built, handoff.columns)
    started = {k for (k, _, _), x in zip(built.families["open"].keys[
        ["site", "tier", "period"]].itertuples(index=False, name=None),
        x_lp[families["open"]], strict=True) if x > 1e-6}
    fixings = lp_guided_fixings(built, data, families, x_lp)
    assert [f.source for f in fixings] == ["LP rounding, capacity matched",
                                           "LP rounding, largest start"]
    for fixing in fixings:
        value = dict(zip(fixing.columns.tolist(), fixing.values.tolist(), strict=True))
        opened = [k for (k, _, _), c in zip(built.families["open"].keys[
            ["site", "tier", "period"]].itertuples(index=False, name=None),
            families["open"], strict=True) if value[int(c)] == 1.0]
        assert sorted(opened) == sorted(started)  # each started site opens, once


def test_small_models_go_straight_to_the_mip() -> None:
    plan = solve_checked(generate("tiny", 3), EXACT)  # far below starts_min_columns
    assert not any(line.startswith(("greedy construction", "LP rounding")) for line in plan.log)


def test_the_first_plan_may_use_the_whole_time_limit_and_later_starts_their_share() -> None:
    # a share far too small for any solve: only the construction, which runs while no plan
    # exists, may use the rest of the time limit
    plan = solve_checked(generate("S", 1), replace(STARTS, time_limit_s=120.0,
                                                   start_share=1e-9))
    assert any(line.startswith("greedy construction: plan") for line in plan.log)
    assert not any(line.startswith("LP rounding") and ": plan" in line for line in plan.log)


def test_the_relaxation_of_the_equilibrated_rows_is_the_relaxation_of_the_model() -> None:
    """Rows divided by their largest coefficient: each row's largest is 1, and the LP
    relaxation (interior point without crossover, on an instance of HiGHS of its own) has
    the optimum that dual simplex finds on the model as compiled."""
    import highspy

    from reshore.optimizer.heuristics import solve_relaxation

    built = network_design.build(prepare(generate("S", 1)))
    handoff = to_highs_lp(built)
    scaled = handoff.arrays.rows_equilibrated()
    largest = np.zeros(scaled.row_lower.size)
    np.maximum.at(largest, scaled.matrix.indices, np.abs(scaled.matrix.data))
    assert largest == pytest.approx(np.ones_like(largest))
    assert np.abs(handoff.arrays.matrix.data).max() > 100  # the rows did need it
    bound, x_lp = solve_relaxation(scaled, time_limit=60, options={"threads": 1},
                                   stop=lambda: False)
    assert x_lp is not None
    simplex = highspy.Highs()  # type: ignore[no-untyped-call]
    simplex.setOptionValue("output_flag", False)
    simplex.passModel(handoff.lp)
    simplex.setOptionValue("solve_relaxation", True)
    simplex.setOptionValue("solver", "simplex")
    simplex.run()
    assert bound == pytest.approx(simplex.getInfo().objective_function_value, rel=1e-7)
    a = handoff.arrays
    activity = a.matrix @ x_lp
    assert (activity >= a.row_lower - 1e-5 * np.maximum(1, abs(a.row_lower))).all()
    assert (activity <= a.row_upper + 1e-5 * np.maximum(1, abs(a.row_upper))).all()


def test_a_stopped_relaxation_gives_no_bound() -> None:
    handoff = to_highs_lp(network_design.build(prepare(generate("S", 1))))
    from reshore.optimizer.heuristics import solve_relaxation

    assert solve_relaxation(handoff.arrays, time_limit=60, options={"threads": 1},
                            stop=lambda: True) == (-np.inf, None)


def test_the_mip_does_not_start_with_less_time_left_than_the_relaxation_took() -> None:
    from reshore.optimizer.solve.phases import too_little_time_for_the_mip
    from reshore.optimizer.solve.progress import Deadline

    limited = SolveOptions(time_limit_s=100.0)
    deadline = Deadline(100.0)  # started now: about 100 s left
    assert too_little_time_for_the_mip(limited, deadline, relaxation_s=150.0)
    assert not too_little_time_for_the_mip(limited, deadline, relaxation_s=10.0)
    assert not too_little_time_for_the_mip(limited, deadline, relaxation_s=0.0)  # none ran
    assert not too_little_time_for_the_mip(SolveOptions(), Deadline(None), relaxation_s=1e9)
    # by scenario: the whole root LP is expected to take 3 ** 2 = 9 times as long
    assert too_little_time_for_the_mip(limited, deadline, relaxation_s=20.0, scenarios=3)
    assert not too_little_time_for_the_mip(limited, deadline, relaxation_s=10.0, scenarios=3)
