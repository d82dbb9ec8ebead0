"""Tiny instances with hand-worked optima (see `tests/instances.py` for the arithmetic)."""

from __future__ import annotations

import pandas as pd
import pytest

from reshore.optimizer.results import PlanStatus
from tests import instances
from tests.conftest import solve_checked


def opened(sites: pd.DataFrame) -> dict[str, str]:
    rows = sites[sites.status.isin(["open", "existing"])]
    return dict(zip(rows.site, rows.tier, strict=True))


def test_two_site_transport_opens_only_the_cheaper_site() -> None:
    plan = solve_checked(instances.two_site_transport())
    assert plan.status is PlanStatus.OPTIMAL
    assert plan.objective == pytest.approx(290)
    assert opened(plan.tables["sites"]) == {"A": "std"}


def test_two_site_transport_opens_both_when_one_is_too_small() -> None:
    plan = solve_checked(instances.two_site_transport(capacity=100))
    assert plan.objective == pytest.approx(320)
    assert set(opened(plan.tables["sites"])) == {"A", "B"}
    shipments = plan.tables["shipments"].set_index(["site", "customer"]).quantity
    assert shipments["A", "X"] == pytest.approx(60)
    assert shipments["B", "Y"] == pytest.approx(60)


@pytest.mark.parametrize(("demand", "tier", "objective"), [(40, "small", 100),
                                                         (120, "large", 180)])
def test_tier_choice_follows_demand(demand: float, tier: str, objective: float) -> None:
    plan = solve_checked(instances.tier_choice(demand))
    assert plan.objective == pytest.approx(objective)
    assert opened(plan.tables["sites"]) == {"S": tier}


def test_tariff_scenario_flips_the_sourcing_country() -> None:
    plan = solve_checked(instances.tariff_flip())
    assert plan.objective == pytest.approx(105)
    sourcing = plan.tables["sourcing"].set_index("scenario")
    assert sourcing.loc["calm", "origin_country"] == "TW"
    assert sourcing.loc["war", "origin_country"] == "MX"
    assert plan.scenario_costs().to_dict() == pytest.approx({"calm": 100, "war": 110})


def test_tariff_on_every_origin_keeps_the_cheaper_country() -> None:
    instance = instances.tariff_flip()
    instance["tariffs"][0]["origin_country"] = "*"
    plan = solve_checked(instance)
    # war: Taiwan 10 x 1.25 = 12.5 beats Mexico 11 x 1.25 = 13.75
    assert plan.scenario_costs().to_dict() == pytest.approx({"calm": 100, "war": 125})
    assert set(plan.tables["sourcing"].origin_country) == {"TW"}


def test_committed_period_sources_once_for_every_scenario() -> None:
    instance = instances.tariff_flip()
    instance["settings"]["commit_periods"] = 1
    plan = solve_checked(instance)
    # one decision for both: Taiwan costs 0.5 x 100 + 0.5 x 125 = 112.5, Mexico 110
    assert plan.objective == pytest.approx(110)
    assert set(plan.tables["sourcing"].origin_country) == {"MX"}


def test_bom_with_lead_time_buys_local_trays_for_the_first_period() -> None:
    plan = solve_checked(instances.bom_with_lead_time())
    assert plan.objective == pytest.approx(340)
    sourcing = plan.tables["sourcing"].set_index("offer")
    assert sourcing.loc["tray_us", "quantity"] == pytest.approx(6)
    assert sourcing.loc["tray_us", "period"] == "P1"
    assert sourcing.loc["tray_tw", "quantity"] == pytest.approx(20)
    assert (sourcing.loc["tray_tw", "period"], sourcing.loc["tray_tw", "arrival_period"]) == (
        "P1", "P2")
    assert plan.tables["unmet"].empty


@pytest.mark.parametrize(("measure", "site", "objective"), [
    ("expected", "mx_site", 150), ("cvar", "us_site", 200), ("worst_case", "us_site", 200)])
def test_risk_measure_picks_the_site(measure: str, site: str, objective: float) -> None:
    plan = solve_checked(instances.risk_choice(measure))
    assert opened(plan.tables["sites"]) == {site: "std"}
    assert plan.objective == pytest.approx(objective)


def test_cvar_with_half_weight_blends_expected_and_tail() -> None:
    plan = solve_checked(instances.risk_choice("cvar", weight=0.5))
    # Mexico 0.5 x 150 + 0.5 x 350 = 250 > US 200
    assert opened(plan.tables["sites"]) == {"us_site": "std"}
    assert plan.objective == pytest.approx(200)
    assert plan.expected_cost() == pytest.approx(200)


def test_unmet_demand_is_priced_by_the_penalty() -> None:
    plan = solve_checked(instances.short_capacity(penalty=10))
    assert plan.objective == pytest.approx(300)
    unmet = plan.tables["unmet"]
    assert unmet.quantity.sum() == pytest.approx(30)
    assert plan.service_level() == pytest.approx(50 / 80)


def test_demand_that_must_be_met_but_cannot_is_infeasible_and_named() -> None:
    plan = solve_checked(instances.short_capacity(penalty=None))
    assert plan.status is PlanStatus.INFEASIBLE
    assert plan.objective is None
    text = " ".join(plan.diagnosis)
    assert "customer 'C'" in text and "product 'rack'" in text and "P1" in text
    assert "30 units short" in text


def test_site_that_cannot_be_built_in_the_horizon_leaves_demand_unmet() -> None:
    instance = instances.tier_choice(40)
    instance["sites"][0]["build_periods"] = 1
    plan = solve_checked(instance)
    assert plan.objective == pytest.approx(400)
    assert plan.tables["sites"].status.tolist() == ["not opened"]
