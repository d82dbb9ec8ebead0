"""Pieces of the service that need no server: the size estimate, settings."""

from __future__ import annotations

import pytest

from reshore.api.estimate import estimate_size
from reshore.optimizer.schema import parse_network
from tests.conftest import solve_checked
from tests.instances import bom_with_lead_time, risk_choice, tariff_flip, two_site_transport


@pytest.mark.parametrize("instance", [two_site_transport(), tariff_flip(), bom_with_lead_time(),
                                      risk_choice("cvar")])
def test_the_size_estimate_bounds_the_built_model(instance: dict[str, object]) -> None:
    estimate = estimate_size(parse_network(instance))
    plan = solve_checked(instance)
    assert plan.size.variables <= estimate.variables <= 4 * plan.size.variables + 20
    assert plan.size.integer_variables <= estimate.integer_variables
