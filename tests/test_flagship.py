"""The flagship dataset solves through the whole pipeline and its plan passes the checker."""

from __future__ import annotations

from reshore.data import flagship_path
from reshore.optimizer.io import load_network
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.solve import SolveOptions
from tests.conftest import solve_checked


def test_flagship_plan_is_feasible_and_checked() -> None:
    network = load_network(flagship_path())
    plan = solve_checked(network, SolveOptions(time_limit_s=120, mip_gap=1e-3))
    assert plan.status in (PlanStatus.OPTIMAL, PlanStatus.FEASIBLE)
    sites = plan.tables["sites"]
    assert (sites.status.isin(["open", "existing"])).any()
    service = plan.service_level()
    assert service is not None and service > 0.5
    assert set(plan.scenario_costs().index) == {s.scenario for s in network.scenarios}
