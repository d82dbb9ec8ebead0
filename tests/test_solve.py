"""The solve path: options, progress reports and stopping."""

from __future__ import annotations

import pytest

from reshore.data.synthetic import generate
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.solve import SolveOptions, SolveProgress, solve
from tests import instances
from tests.conftest import solve_checked


def test_progress_reports_best_plan_bound_and_gap() -> None:
    reports: list[SolveProgress] = []
    plan = solve_checked(generate("S", seed=1), SolveOptions(
        mip_gap=1e-6, progress_every_s=0, on_progress=reports.append, threads=1))
    assert plan.status is PlanStatus.OPTIMAL
    assert reports
    last = reports[-1]
    assert last.best_objective == pytest.approx(plan.objective, rel=1e-6)
    for report in reports:
        if report.best_objective is not None and report.bound is not None:
            assert report.bound <= report.best_objective * (1 + 1e-9)
            assert report.gap is not None and 0 <= report.gap <= 1


def test_should_stop_interrupts_the_solve() -> None:
    plan = solve(generate("S", seed=1), SolveOptions(should_stop=lambda: True, threads=1))
    assert plan.status is PlanStatus.CANCELLED and plan.objective is None
    assert plan.diagnosis == ["the solve was stopped before any feasible plan was found"]


def test_unknown_highs_option_is_a_clear_error() -> None:
    from reshore.optimizer.schema import parse_network

    with pytest.raises(ValueError, match="HiGHS rejects option no_such_option"):
        solve(parse_network(instances.two_site_transport()),
              SolveOptions(highs_options={"no_such_option": 1}))


@pytest.mark.parametrize("kept", [0, 20])
def test_time_limit_covers_the_whole_solve_and_reads_as_a_time_limit(
        kept: int) -> None:
    """M's relaxation alone takes several seconds, so a 2 s limit stops it: in the LP rounds
    (every strong linking row held back) or in the MIP (every row kept)."""
    plan = solve(generate("M", seed=0), SolveOptions(time_limit_s=2.0, threads=1,
                                                      cheapest_sites_kept=kept))
    assert plan.status in (PlanStatus.FEASIBLE, PlanStatus.NO_SOLUTION)
    if plan.status is PlanStatus.NO_SOLUTION:
        assert any("time limit" in reason for reason in plan.diagnosis)
    else:  # a plan in hand when the limit came: HiGHS says it stopped on the limit
        assert any("time limit" in line.lower() for line in plan.log)


def test_tuning_options_out_of_range_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"lp_rounds_share must be between 0 and 1, not 1\.5"):
        SolveOptions(lp_rounds_share=1.5)
    with pytest.raises(ValueError, match="cheapest_sites_kept must be at least 0, not -1"):
        SolveOptions(cheapest_sites_kept=-1)


def test_solves_asking_for_other_thread_counts_in_one_process_each_find_the_optimum() -> None:
    """HiGHS keeps one scheduler per process; a solve asking for another thread count than
    the last one must still solve (two_site_transport: optimum 290)."""
    for threads in (None, 1, 2, 1):
        plan = solve_checked(instances.two_site_transport(),
                             SolveOptions(mip_gap=1e-9, threads=threads, random_seed=0))
        assert plan.status == "optimal", threads
        assert plan.objective == pytest.approx(290)
