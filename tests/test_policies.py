"""Each policy of the policies table on a tiny instance, with the optimum worked by hand."""

from __future__ import annotations

from typing import Any

import pytest

from reshore.optimizer.results import PlanStatus
from tests import instances
from tests.conftest import solve_checked


def with_policies(raw: dict[str, Any], *policies: dict[str, Any]) -> dict[str, Any]:
    raw["policies"] = list(policies)
    return raw


def test_max_country_share_splits_the_calm_scenario() -> None:
    """calm: 6 chips from Taiwan (60) + 4 from Mexico (44) = 104; war: 10 from Mexico, 110."""
    raw = with_policies(instances.tariff_flip(),
                        {"policy": "max_country_share", "country": "TW", "value": 0.6})
    plan = solve_checked(raw)
    assert plan.scenario_costs().to_dict() == pytest.approx({"calm": 104, "war": 110})


def test_min_suppliers_qualifies_a_second_supplier() -> None:
    """Without tariffs Taiwan always wins: qualifying it alone costs 5, both 10."""
    raw = instances.tariff_flip(tw_rate_in_war=0.0)
    for offer in raw["offers"]:
        offer["qualification_cost"] = 5
    assert solve_checked(raw).objective == pytest.approx(105)
    plan = solve_checked(with_policies(raw, {"policy": "min_suppliers", "component": "chip",
                                             "value": 2}))
    assert plan.objective == pytest.approx(110)
    assert set(plan.tables["qualifications"].supplier) == {"tw_fab", "mx_fab"}


def test_max_open_sites_leaves_demand_unmet() -> None:
    """Capacity 100 each, demand 120: one site only. A: 50 + 60x1 + 40x3 + 20 unmet x 10 = 430;
    B: 150 + 60x1 + 40x2 + 200 = 490."""
    raw = instances.two_site_transport(capacity=100)
    raw["settings"]["unmet_penalty"] = 10
    plan = solve_checked(with_policies(raw, {"policy": "max_open_sites", "value": 1}))
    assert plan.objective == pytest.approx(430)
    assert plan.tables["sites"].set_index("site").status.to_dict() == {
        "A": "open", "B": "not opened"}


def test_capex_budget_rules_out_opening_both() -> None:
    """B opens at 40: both 90 + 120 = 210 is best, but a budget of 60 leaves B alone: 220."""
    raw = instances.two_site_transport(opening_b=40)
    assert solve_checked(raw).objective == pytest.approx(210)
    plan = solve_checked(with_policies(raw, {"policy": "capex_budget", "value": 60}))
    assert plan.objective == pytest.approx(220)


def test_min_domestic_share_buys_us_chips() -> None:
    """US chips at 15. calm: 4 US + 6 TW = 120. war: US value >= half of all value with Mexico at
    11: y MX <= 75/13, cost 150 - 4y = 126.92..."""
    raw = instances.tariff_flip()
    raw["suppliers"].append({"supplier": "us_fab", "country": "US"})
    raw["offers"].append({"offer": "chip_us", "supplier": "us_fab", "component": "chip",
                          "unit_price": 15})
    raw["lanes"].append({"origin": "us_fab", "destination": "S"})
    plan = solve_checked(with_policies(raw, {"policy": "min_domestic_share", "value": 0.5}))
    costs = plan.scenario_costs().to_dict()
    assert costs == pytest.approx({"calm": 120, "war": 150 - 4 * 75 / 13})
    assert plan.domestic_share() == pytest.approx(0.5)


def test_max_supplier_share_caps_each_supplier() -> None:
    """No supplier sells more than 70 % of the chips. calm: 7 from Taiwan (70) + 3 from Mexico
    (33) = 103; war: 7 from Mexico (77) + 3 from Taiwan at 12.5 (37.5) = 114.5."""
    raw = with_policies(instances.tariff_flip(),
                        {"policy": "max_supplier_share", "component": "chip", "value": 0.7})
    plan = solve_checked(raw)
    assert plan.scenario_costs().to_dict() == pytest.approx({"calm": 103, "war": 114.5})
    assert plan.objective == pytest.approx(108.75)


def test_max_supplier_share_of_one_country_leaves_the_others_free() -> None:
    """The cap covers Mexican suppliers only: calm buys all 10 from Taiwan (100); war buys 7
    from Mexico and 3 from Taiwan (114.5)."""
    raw = with_policies(instances.tariff_flip(), {"policy": "max_supplier_share",
                                                  "country": "MX", "value": 0.7})
    assert solve_checked(raw).scenario_costs().to_dict() == pytest.approx(
        {"calm": 100, "war": 114.5})


def test_policy_that_cannot_hold_is_named() -> None:
    raw = with_policies(instances.tariff_flip(),
                        {"policy": "min_suppliers", "component": "chip", "value": 3})
    plan = solve_checked(raw)
    assert plan.status is PlanStatus.INFEASIBLE
    assert any("policy min_suppliers for component 'chip'" in line for line in plan.diagnosis)


def test_every_policy_name_has_its_rows_and_its_kind_of_value() -> None:
    """A policy is added in the schema (its name and kind of value) and as one `define_*`
    function in the model's POLICIES: the three lists name the same policies."""
    from typing import get_args

    from reshore.models.network_design import POLICIES
    from reshore.optimizer.schema import POLICY_VALUES, PolicyName

    assert set(get_args(PolicyName)) == set(POLICIES) == set(POLICY_VALUES)
