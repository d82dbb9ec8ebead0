"""Every default and optional table of the data contract, on a tiny instance whose optimum is
worked out by hand; every plan passes the independent checker."""

from __future__ import annotations

import math
from typing import Any

import pytest

from reshore.optimizer.schema import parse_network
from tests import instances
from tests.conftest import solve_checked

KM_PER_DEGREE = math.radians(1) * 6371.0088
"""One degree of the equator: 2 pi x 6371.0088 / 360 = 111.195 km."""


def one_site(**site: Any) -> dict[str, Any]:
    """An existing site S (capacity 1000 h, no costs) making racks of 1 h for customer C."""
    return {
        "settings": {"periods": ["P1"]},
        "sites": [{"site": "S", "country": "US", "status": "existing", **site}],
        "site_tiers": [{"site": "S", "tier": "only", "capacity_hours": 1000}],
        "products": [{"product": "rack", "assembly_hours": 1}],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "rack", "period": "P1", "quantity": 10}],
        "lanes": instances.lanes(("S", "C", 0)),
    }


def on_the_equator() -> dict[str, Any]:
    """No lanes table. Supplier U at longitude 0, site A at 1, customer C at 2, site B at 10,
    all on the equator; 0.01 per unit and km; a rack takes one chip from U; 10 racks.

    Through A: U -> A 1 degree + A -> C 1 degree = 2 x 111.195 km x 0.01 = 2.2239 a rack.
    Through B: U -> B 10 degrees + B -> C 8 degrees = 18 x 1.11195 = 20.015 a rack.
    Optimum: every rack through A, 10 x 2.2239 = 22.239.
    """
    return {
        "settings": {"periods": ["P1"], "transport_cost_per_unit_km": 0.01},
        "sites": [{"site": site, "country": "US", "status": "existing", "lat": 0, "lon": lon}
                  for site, lon in (("A", 1), ("B", 10))],
        "site_tiers": [{"site": site, "tier": "only", "capacity_hours": 100}
                       for site in ("A", "B")],
        "products": [{"product": "rack", "assembly_hours": 1}],
        "components": [{"component": "chip"}],
        "bom": [{"product": "rack", "component": "chip", "quantity": 1}],
        "suppliers": [{"supplier": "U", "country": "US", "lat": 0, "lon": 0}],
        "offers": [{"offer": "chip_u", "supplier": "U", "component": "chip", "unit_price": 0}],
        "customers": [{"customer": "C", "country": "US", "lat": 0, "lon": 2}],
        "demand": [{"customer": "C", "product": "rack", "period": "P1", "quantity": 10}],
    }


def test_without_lanes_every_supplier_site_and_site_customer_pair_is_priced_by_distance(
) -> None:
    plan = solve_checked(on_the_equator())
    assert plan.objective == pytest.approx(10 * 2 * KM_PER_DEGREE * 0.01, rel=1e-6)
    assert plan.objective == pytest.approx(22.239, abs=1e-3)
    assert set(plan.tables["sourcing"].site) == {"A"}
    assert set(plan.tables["shipments"].site) == {"A"}
    assert plan.service_level() == 1.0


def labour_and_given_costs() -> dict[str, Any]:
    """Racks take 3 h. Site A: labour 20 an hour and no production_costs row, so 60 a rack.
    Site B: labour 10 an hour (30 a rack by default) but a production_costs row of 70.
    Optimum: A makes the 10 racks, 600 (B's labour default would have given 300)."""
    raw = one_site()
    raw["sites"] = [{"site": "A", "country": "US", "status": "existing",
                     "labour_cost_per_hour": 20},
                    {"site": "B", "country": "US", "status": "existing",
                     "labour_cost_per_hour": 10}]
    raw["site_tiers"] = [{"site": k, "tier": "only", "capacity_hours": 1000} for k in "AB"]
    raw["products"][0]["assembly_hours"] = 3
    raw["production_costs"] = [{"site": "B", "product": "rack", "cost_per_unit": 70}]
    raw["lanes"] = instances.lanes(("A", "C", 0), ("B", "C", 0))
    return raw


def test_production_cost_defaults_to_labour_times_hours() -> None:
    plan = solve_checked(labour_and_given_costs())
    assert plan.objective == pytest.approx(600)
    assert plan.tables["production"].site.tolist() == ["A"]


def chips_from_two_countries() -> dict[str, Any]:
    """A US site makes 10 widgets of one chip each. cn_fab (China, no origin_country on its
    offer) sells at 10, vn_fab (Vietnam) at 12; chips from CN into the US pay 25 %.
    CN: 10 x (10 + 2.5) = 125; VN: 10 x 12 = 120. Optimum 120 from Vietnam (were the origin
    not taken from the supplier, China would be duty-free at 100)."""
    raw = instances.tariff_flip()
    del raw["scenarios"]
    raw["suppliers"] = [{"supplier": "cn_fab", "country": "CN"},
                        {"supplier": "vn_fab", "country": "VN"}]
    raw["offers"] = [
        {"offer": "chip_cn", "supplier": "cn_fab", "component": "chip", "unit_price": 10},
        {"offer": "chip_vn", "supplier": "vn_fab", "component": "chip", "unit_price": 12},
    ]
    raw["lanes"] = instances.lanes(("cn_fab", "S", 0), ("vn_fab", "S", 0), ("S", "C", 0))
    raw["tariffs"] = [{"origin_country": "CN", "destination_country": "US", "rate": 0.25}]
    return raw


def test_origin_country_defaults_to_the_suppliers_country() -> None:
    plan = solve_checked(chips_from_two_countries())
    assert plan.objective == pytest.approx(120)
    assert plan.tables["sourcing"].origin_country.tolist() == ["VN"]


def test_an_offer_without_capacity_is_unlimited() -> None:
    """1000 widgets of one chip. chip_tw (10) has no capacity_per_period: unlimited; chip_mx
    is cheaper here (4) but capped at 100 a period. Optimum 100 x 4 + 900 x 10 = 9,400."""
    raw = instances.tariff_flip()
    del raw["scenarios"], raw["tariffs"]
    raw["demand"][0]["quantity"] = 1000
    raw["offers"][1].update(unit_price=4, capacity_per_period=100)
    plan = solve_checked(raw)
    assert plan.objective == pytest.approx(9_400)
    bought = plan.tables["sourcing"].set_index("offer").quantity
    assert bought.to_dict() == pytest.approx({"chip_mx": 100, "chip_tw": 900})


def test_without_scenarios_there_is_one_scenario_base_of_probability_one() -> None:
    """two_site_transport has no scenarios table: only A opens, 50 + 60 + 180 = 290."""
    raw = instances.two_site_transport()
    network = parse_network(raw)
    assert [(s.scenario, s.probability) for s in network.scenarios] == [("base", 1.0)]
    plan = solve_checked(network)
    assert plan.objective == pytest.approx(290)
    assert plan.scenarios == {"base": 1.0}
    assert set(plan.tables["costs"].scenario) == {"base"}
    assert plan.summary()["scenario_probabilities"] == {"base": 1.0}


def test_a_demand_row_for_a_scenario_replaces_the_star_row() -> None:
    """Scenarios calm and war (0.5 each), nothing committed; a rack costs 1 to make. Demand
    '*' is 10, and war has its own row of 4. Expected cost 0.5 x 10 + 0.5 x 4 = 7."""
    raw = one_site(labour_cost_per_hour=1)
    raw["settings"]["commit_periods"] = 0
    raw["scenarios"] = [{"scenario": "calm", "probability": 0.5},
                        {"scenario": "war", "probability": 0.5}]
    raw["demand"].append({"customer": "C", "product": "rack", "period": "P1", "quantity": 4,
                          "scenario": "war"})
    plan = solve_checked(raw)
    assert plan.objective == pytest.approx(7)
    shipped = plan.tables["shipments"].set_index("scenario").quantity
    assert shipped.to_dict() == pytest.approx({"calm": 10, "war": 4})


def test_star_tariff_rows_match_everything_and_add_up() -> None:
    """A Mexican site (making a rack costs 0) and a US site (16 a rack) serve 10 racks of
    value 100 to a US customer. Tariffs: '*' scenario, '*' origin into the US at 10 %, and in
    war MX into the US another 10 %. Calm: MX at 10 a rack; war: MX at 20 against US at 16
    (the US site crosses no border, so the '*' row does not touch it). Nothing committed:
    0.5 x 100 + 0.5 x 160 = 130."""
    raw = one_site()
    raw["settings"]["commit_periods"] = 0
    raw["sites"] = [{"site": "mx", "country": "MX", "status": "existing"},
                    {"site": "us", "country": "US", "status": "existing"}]
    raw["site_tiers"] = [{"site": k, "tier": "only", "capacity_hours": 1000} for k in ("mx", "us")]
    raw["products"][0]["unit_value"] = 100
    raw["production_costs"] = [{"site": "us", "product": "rack", "cost_per_unit": 16}]
    raw["lanes"] = instances.lanes(("mx", "C", 0), ("us", "C", 0))
    raw["scenarios"] = [{"scenario": "calm", "probability": 0.5},
                        {"scenario": "war", "probability": 0.5}]
    raw["tariffs"] = [
        {"origin_country": "*", "destination_country": "US", "rate": 0.1},
        {"scenario": "war", "origin_country": "MX", "destination_country": "US", "rate": 0.1},
    ]
    plan = solve_checked(raw)
    assert plan.objective == pytest.approx(130)
    shipments = plan.tables["shipments"]
    assert dict(zip(shipments.scenario, shipments.site, strict=True)) == {"calm": "mx",
                                                                          "war": "us"}


@pytest.mark.parametrize(("commit", "expected"), [(None, 110), (0, 105)])
def test_commit_periods_defaults_to_one_shared_period(commit: int | None,
                                                      expected: float) -> None:
    """tariff_flip: chips at 10 from Taiwan (12.5 in war), 11 from Mexico, 10 widgets.
    Default (one committed period, the only one): one choice for both scenarios, Taiwan
    0.5 x 100 + 0.5 x 125 = 112.5 or Mexico 110 -> 110. commit_periods 0: each scenario
    sources on its own, 0.5 x 100 + 0.5 x 110 = 105."""
    raw = instances.tariff_flip()
    del raw["settings"]["commit_periods"]
    if commit is not None:
        raw["settings"]["commit_periods"] = commit
    assert parse_network(raw).settings.commit_periods == (1 if commit is None else commit)
    plan = solve_checked(raw)
    assert plan.objective == pytest.approx(expected)


@pytest.mark.parametrize(("rate", "expected"), [(None, 220), (0.25, 198)])
def test_discount_rate_discounts_each_later_period(rate: float | None,
                                                   expected: float) -> None:
    """Two periods, 10 racks each at 1 a rack, the site's tier costs 100 a period. No rate
    (default 0): 2 x 110 = 220. Rate 0.25: 110 + 110 / 1.25 = 198."""
    raw = one_site(labour_cost_per_hour=1)
    raw["settings"]["periods"] = ["P1", "P2"]
    if rate is not None:
        raw["settings"]["discount_rate"] = rate
    raw["site_tiers"][0]["fixed_cost_per_period"] = 100
    raw["demand"].append({"customer": "C", "product": "rack", "period": "P2", "quantity": 10})
    plan = solve_checked(raw)
    assert plan.objective == pytest.approx(expected)


def candidate_over_three_periods(**site: Any) -> dict[str, Any]:
    """A candidate site (opening 0) and 4 racks a period over P1..P3; unmet costs 10 a rack."""
    raw = one_site(**site, status="candidate")
    raw["settings"].update(periods=["P1", "P2", "P3"], unmet_penalty=10)
    raw["demand"] = [{"customer": "C", "product": "rack", "period": p, "quantity": 4}
                     for p in ("P1", "P2", "P3")]
    return raw


@pytest.mark.parametrize(("site", "opens", "expected"), [
    ({}, "P1", 0),  # defaults: earliest_open_period the first period, build_periods 0
    ({"earliest_open_period": "P2"}, "P2", 40),  # P1's 4 racks unmet: 4 x 10
    ({"build_periods": 2}, "P3", 80),  # two periods of building: P1 and P2 unmet, 8 x 10
    ({"earliest_open_period": "P3", "build_periods": 1}, "P3", 80),  # the later of the two
])
def test_a_candidate_operates_from_its_earliest_period_and_after_building(
        site: dict[str, Any], opens: str, expected: float) -> None:
    plan = solve_checked(candidate_over_three_periods(**site))
    assert plan.objective == pytest.approx(expected)
    assert plan.tables["sites"].open_period.tolist() == [opens]


@pytest.mark.parametrize(("component_holding", "held", "expected"), [
    (1.0, "component", 4), (3.0, "product", 8)])
def test_holding_cost_per_period_prices_closing_stock(component_holding: float, held: str,
                                                      expected: float) -> None:
    """10 racks wanted in P2, one free chip each, but chips come at most 6 a period: at least
    4 chips are bought in P1 and held one period, as chips (component holding) or, assembled
    in P1, as racks (product holding 2). Chip holding 1: 4 x 1 = 4; chip holding 3: the racks
    are held, 4 x 2 = 8. Holding defaults to 0 elsewhere (the site's other items)."""
    raw = instances.tariff_flip()
    del raw["scenarios"], raw["tariffs"]
    raw["settings"]["periods"] = ["P1", "P2"]
    raw["demand"][0].update(period="P2", quantity=10)
    raw["offers"] = [{"offer": "chip", "supplier": "tw_fab", "component": "chip",
                      "unit_price": 0, "capacity_per_period": 6}]
    raw["components"][0]["holding_cost_per_period"] = component_holding
    raw["products"][0]["holding_cost_per_period"] = 2
    plan = solve_checked(raw)
    assert plan.objective == pytest.approx(expected)
    inventory = plan.tables["inventory"]
    assert inventory.kind.tolist() == [held]
    assert inventory.quantity.tolist() == pytest.approx([4])
