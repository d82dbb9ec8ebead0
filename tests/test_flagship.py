"""The flagship dataset solves through the whole pipeline, its plan passes the checker, and
its decisions are the ones the planner expects."""

from __future__ import annotations

from reshore.data import flagship_path
from reshore.optimizer.io import load_network
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.solve import SolveOptions
from tests.conftest import solve_checked


def test_flagship_plan_decides_the_sites_and_serves_every_rack() -> None:
    """Both existing plants (Houston, Guadalajara) are kept; Mount Pleasant opens at its large
    tier in 2027Q2 and San Jose at its medium tier in the second half of 2027 (2027Q3 within
    the 0.1 % gap, 2027Q4 at the proven optimum: the two plans differ by less than the gap);
    no other candidate opens and no demand goes unmet."""
    network = load_network(flagship_path())
    plan = solve_checked(network, SolveOptions(time_limit_s=120, mip_gap=1e-3))
    assert plan.status in (PlanStatus.OPTIMAL, PlanStatus.FEASIBLE)
    assert plan.gap is not None and plan.gap <= 1e-3
    sites = {row.site: row for row in plan.tables["sites"].itertuples(index=False)}
    assert {k for k, row in sites.items() if row.status == "existing"} == {"houston_tx",
                                                                          "guadalajara_mx"}
    opened = {k: (row.tier, row.open_period) for k, row in sites.items() if row.status == "open"}
    assert set(opened) == {"mount_pleasant_wi", "san_jose_ca"}
    assert opened["mount_pleasant_wi"] == ("large", "2027Q2")
    assert opened["san_jose_ca"][0] == "medium"
    assert opened["san_jose_ca"][1] in ("2027Q3", "2027Q4")
    assert not {row.status for row in sites.values()} & {"closed"}
    assert plan.tables["unmet"].empty
    assert plan.service_level() == 1.0
    assert set(plan.scenario_costs().index) == {s.scenario for s in network.scenarios}
