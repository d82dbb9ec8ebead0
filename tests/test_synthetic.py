"""The synthetic instance generator: valid, solvable, checked, and deterministic by seed."""

from __future__ import annotations

from reshore.data.synthetic import SIZES, generate
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.schema import parse_network
from reshore.optimizer.solve import SolveOptions
from tests.conftest import solve_checked


def test_tiny_instance_solves_and_passes_the_checker() -> None:
    network = generate("tiny", seed=3)
    plan = solve_checked(network, SolveOptions(mip_gap=1e-6, threads=1, random_seed=0))
    assert plan.status is PlanStatus.OPTIMAL
    assert plan.objective is not None and plan.objective > 0


def test_same_seed_same_instance_other_seed_other_instance() -> None:
    first = generate("tiny", seed=7).to_tables()
    assert generate("tiny", seed=7).to_tables() == first
    assert generate("tiny", seed=8).to_tables() != first


def test_instance_is_a_valid_contract_with_every_feature() -> None:
    network = generate("tiny", seed=1)
    again = parse_network(network.to_tables())  # round trip through the validating parser
    assert again.to_tables() == network.to_tables()
    assert {s.status for s in network.sites} == {"existing", "candidate"}
    assert network.bom and network.offers and network.tariffs and network.policies
    assert len({s.country for s in network.suppliers}) > 1
    assert len(network.scenarios) == SIZES["tiny"].scenarios
    assert any(c.single_source for c in network.customers)
