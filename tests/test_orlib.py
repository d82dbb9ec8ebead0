"""OR-Library correctness slice: three public CFLP instances solved through the whole pipeline
(contract -> prepare -> Pyomo -> HiGHS -> Plan -> checker) to their published optima."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reshore.data.orlib import LARGE_CAPACITIES, cflp_network, read_cflp, read_optima
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.schema import Network
from reshore.optimizer.solve import SolveOptions
from tests.conftest import solve_checked

FOLDER = Path(__file__).parent / "data" / "orlib"
PUBLISHED = {"cap41": 1040444.375, "cap71": 932615.750, "cap131": 793439.562}
"""OR-Library's capopt values (rounded there to three decimals)."""


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_optimum(name: str) -> None:
    network = cflp_network(read_cflp(FOLDER / f"{name}.txt"))
    plan = solve_checked(network, SolveOptions(mip_gap=1e-9, threads=1, random_seed=0))
    assert plan.status is PlanStatus.OPTIMAL
    assert plan.objective == pytest.approx(PUBLISHED[name], rel=1e-6)


def test_reader_maps_warehouses_to_sites_and_costs_to_per_unit_lanes() -> None:
    cflp = read_cflp(FOLDER / "cap41.txt")
    assert (cflp.warehouses, cflp.customers) == (16, 50)
    assert cflp.capacity.tolist() == [5000.0] * 16
    assert 0.0 in cflp.fixed_cost  # one warehouse of every small set opens for free
    assert cflp.demand.sum() == 58268
    network: Network = cflp_network(cflp)
    assert len(network.sites) == 16 and len(network.site_tiers) == 16
    assert network.settings.unmet_penalty is None  # demand must be met
    lane = network.lanes[0] if network.lanes else None
    assert lane is not None and (lane.origin, lane.destination) == ("w1", "c1")
    assert lane.cost_per_unit * cflp.demand[0] == pytest.approx(cflp.allocation_cost[0, 0])


def test_large_sets_take_their_capacity_as_a_parameter(tmp_path: Path) -> None:
    text = "2 3\n capacity 10.\n capacity 20.\n5 1 2\n6 3 4\n7 5 6\n"
    (tmp_path / "capx.txt").write_text(text)
    with pytest.raises(ValueError, match="capacity"):
        read_cflp(tmp_path / "capx.txt")
    cflp = read_cflp(tmp_path / "capx.txt", capacity=9000)
    assert cflp.name == "capx-9000"
    assert cflp.capacity.tolist() == [9000.0, 9000.0]
    assert np.array_equal(cflp.allocation_cost, [[1, 3, 5], [2, 4, 6]])
    assert set(LARGE_CAPACITIES) == {"capa", "capb", "capc"}


def test_capopt_reader(tmp_path: Path) -> None:
    (tmp_path / "capopt.txt").write_text(
        "Data file   Optimal solution value\ncap41       1040444.375\n"
        "capa        19240822.449 (capacity 8000)\n            18438046.543 (capacity 10000)\n"
        "\nNote here that different machines may give slightly different\n")
    assert read_optima(tmp_path / "capopt.txt") == {
        "cap41": 1040444.375, "capa-8000": 19240822.449, "capa-10000": 18438046.543}


@pytest.mark.parametrize("kept", [0, 2])
def test_held_back_linking_rows_reach_the_same_optimum(kept: int) -> None:
    """With few (or none) of the strong linking rows kept in the LP, the LP rounds add the
    violated ones and the MIP still ends at the published optimum."""
    network = cflp_network(read_cflp(FOLDER / "cap71.txt"))
    plan = solve_checked(network, SolveOptions(mip_gap=1e-9, threads=1, random_seed=0,
                                               cheapest_sites_kept=kept))
    assert plan.status is PlanStatus.OPTIMAL
    assert plan.objective == pytest.approx(PUBLISHED["cap71"], rel=1e-6)
    rounds = [line for line in plan.log if line.startswith("strong linking:")]
    assert rounds and f"of {16 * 50 - 50 * kept} rows added" in rounds[0]
