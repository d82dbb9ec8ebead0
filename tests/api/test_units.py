"""Pieces of the service that need no server: progress lines, the size estimate, settings."""

from __future__ import annotations

import pytest

from api.estimate import estimate_size
from api.jobs import parse_progress
from optimizer.schema import parse_network
from tests.conftest import solve_checked
from tests.instances import bom_with_lead_time, risk_choice, tariff_flip, two_site_transport


def test_progress_lines_give_best_plan_bound_and_gap() -> None:
    assert parse_progress("    12.3 s  best plan 1,234,567  bound 1,000,000  gap 19.00%") == {
        "best_objective": 1_234_567, "bound": 1_000_000, "gap": pytest.approx(0.19)}
    assert parse_progress("     4.4 s  no plan yet, bound -16,110,503,276") == {
        "bound": -16_110_503_276}
    assert parse_progress("     4.4 s  no plan yet, bound -inf") == {}
    assert parse_progress("built the model in 2.04 s") == {}


@pytest.mark.parametrize("instance", [two_site_transport(), tariff_flip(), bom_with_lead_time(),
                                      risk_choice("cvar")])
def test_the_size_estimate_bounds_the_built_model(instance: dict[str, object]) -> None:
    estimate = estimate_size(parse_network(instance))
    plan = solve_checked(instance)
    assert plan.size.variables <= estimate.variables <= 4 * plan.size.variables + 20
    assert plan.size.integer_variables <= estimate.integer_variables
