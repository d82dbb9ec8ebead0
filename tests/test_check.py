"""The checker is not vacuous: tampering with a solved plan is caught, rule by rule."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from reshore.optimizer.check import check
from reshore.optimizer.results import Plan
from reshore.optimizer.schema import parse_network
from tests import instances
from tests.conftest import solve_checked


def tampered(plan: Plan, table: str,
             change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Plan:
    """A copy of the plan with one table changed in place, or replaced by what `change`
    returns."""
    tables = {name: frame.copy() for name, frame in plan.tables.items()}
    replaced = change(tables[table])
    if replaced is not None:
        tables[table] = replaced
    return Plan(**{**plan.__dict__, "tables": tables})


def rules_broken(raw: dict[str, object], plan: Plan) -> set[str]:
    return {v.rule for v in check(parse_network(raw), plan).violations}


def test_more_shipped_than_demanded_breaks_demand_and_balance() -> None:
    raw = instances.two_site_transport()
    plan = solve_checked(raw)

    def ship_more(frame: pd.DataFrame) -> None:
        frame["quantity"] = frame.quantity + [5.0] + [0.0] * (len(frame) - 1)

    assert {"demand_service", "product_balance"} <= rules_broken(
        raw, tampered(plan, "shipments", ship_more))


def test_production_beyond_capacity_is_caught() -> None:
    raw = instances.short_capacity(penalty=10)
    plan = solve_checked(raw)

    def make_more(frame: pd.DataFrame) -> None:
        frame.loc[0, "quantity"] = 80

    assert "site_capacity" in rules_broken(raw, tampered(plan, "production", make_more))


def test_understated_tariff_is_caught() -> None:
    raw = instances.tariff_flip()
    plan = solve_checked(raw)

    def waive(frame: pd.DataFrame) -> None:
        frame["origin_country"] = "TW"
        frame["offer"] = "chip_tw"
        frame["supplier"] = "tw_fab"
        frame["purchase_cost"] = frame.quantity * 10

    assert "costs" in rules_broken(raw, tampered(plan, "sourcing", waive))


def test_opening_before_the_build_lead_time_is_caught() -> None:
    raw = instances.tier_choice(40)
    raw["settings"]["periods"] = ["P1", "P2"]
    raw["sites"][0]["build_periods"] = 1
    raw["demand"][0]["period"] = "P2"
    plan = solve_checked(raw)
    assert plan.tables["sites"].open_period.tolist() == ["P2"]

    def open_early(frame: pd.DataFrame) -> None:
        frame.loc[0, "open_period"] = "P1"

    assert "build_lead_time" in rules_broken(raw, tampered(plan, "sites", open_early))


def test_supplier_over_its_share_is_caught() -> None:
    raw = instances.tariff_flip()
    raw["policies"] = [{"policy": "max_supplier_share", "component": "chip", "value": 0.7}]
    plan = solve_checked(raw)

    def buy_all_from_taiwan(frame: pd.DataFrame) -> None:
        frame["offer"] = "chip_tw"

    assert "policy" in rules_broken(raw, tampered(plan, "sourcing", buy_all_from_taiwan))


def test_wrong_objective_is_caught() -> None:
    raw = instances.risk_choice("cvar")
    plan = solve_checked(raw)
    plan.objective = (plan.objective or 0) + 1
    assert "objective" in rules_broken(raw, plan)


@pytest.mark.parametrize("commit", [1])
def test_scenario_dependent_committed_flow_is_caught(commit: int) -> None:
    raw = instances.tariff_flip()
    raw["settings"]["commit_periods"] = commit
    plan = solve_checked(raw)

    def split(frame: pd.DataFrame) -> None:
        frame.loc[frame.scenario == "war", "quantity"] *= 0.5

    assert "non_anticipativity" in rules_broken(raw, tampered(plan, "sourcing", split))


def test_buying_beyond_an_offers_capacity_is_caught() -> None:
    raw = instances.tariff_flip()
    raw["offers"][0]["capacity_per_period"] = 10  # chip_tw: exactly the calm scenario's need
    plan = solve_checked(raw)

    def buy_more(frame: pd.DataFrame) -> None:
        frame.loc[frame.offer == "chip_tw", "quantity"] = 15.0

    assert "supplier_capacity" in rules_broken(raw, tampered(plan, "sourcing", buy_more))


def test_buying_from_an_unqualified_offer_is_caught() -> None:
    """chip_mx costs 5 to qualify: qualifying it (once, for both scenarios) costs
    0.5 x 100 + 0.5 x 110 + 5 = 110 against 0.5 x 100 + 0.5 x 125 = 112.5 without."""
    raw = instances.tariff_flip()
    raw["offers"][1]["qualification_cost"] = 5
    plan = solve_checked(raw)
    assert plan.objective == pytest.approx(110)
    assert plan.tables["qualifications"].offer.tolist() == ["chip_mx"]

    def forget(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.iloc[0:0]

    assert "qualification" in rules_broken(raw, tampered(plan, "qualifications", forget))


def test_an_offer_under_min_suppliers_needs_qualifying_before_buying() -> None:
    raw = instances.tariff_flip()
    raw["policies"] = [{"policy": "min_suppliers", "component": "chip", "value": 2}]
    plan = solve_checked(raw)
    assert sorted(plan.tables["qualifications"].offer) == ["chip_mx", "chip_tw"]

    def forget_mx(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame.offer != "chip_mx"]

    assert {"qualification", "policy"} <= rules_broken(
        raw, tampered(plan, "qualifications", forget_mx))


def test_splitting_a_single_sourced_customer_is_caught() -> None:
    """Capacity 100 per site: A serves X (60, lane cost 1), B serves Y (60, lane cost 1)."""
    raw = instances.two_site_transport(capacity=100)
    raw["customers"][0]["single_source"] = True
    plan = solve_checked(raw)
    shipments = plan.tables["shipments"]
    assert set(zip(shipments.site, shipments.customer, strict=True)) == {("A", "X"), ("B", "Y")}

    def split(frame: pd.DataFrame) -> pd.DataFrame:
        to_x = frame[frame.customer == "X"]
        return pd.concat([frame[frame.customer != "X"], to_x.assign(quantity=50.0),
                          to_x.assign(site="B", quantity=10.0)], ignore_index=True)

    assert "single_sourcing" in rules_broken(raw, tampered(plan, "shipments", split))


def test_an_arrival_that_ignores_the_lanes_transit_is_caught() -> None:
    """The lane S -> C takes one period: demand in P2 leaves S in P1."""
    raw = instances.tier_choice(40)
    raw["settings"]["periods"] = ["P1", "P2"]
    raw["demand"][0]["period"] = "P2"
    raw["lanes"][0]["transit_periods"] = 1
    plan = solve_checked(raw)
    shipments = plan.tables["shipments"]
    assert (shipments.period.tolist(), shipments.arrival_period.tolist()) == (["P1"], ["P2"])

    def arrive_at_once(frame: pd.DataFrame) -> None:
        frame["arrival_period"] = "P1"

    assert "transit" in rules_broken(raw, tampered(plan, "shipments", arrive_at_once))


def test_shipping_on_a_pair_the_lanes_table_does_not_allow_is_caught() -> None:
    raw = instances.two_site_transport(capacity=100)
    raw["lanes"] = instances.lanes(("A", "X", 1), ("B", "Y", 1))
    plan = solve_checked(raw)

    def ship_b_to_x(frame: pd.DataFrame) -> None:
        frame.loc[frame.customer == "X", "site"] = "B"

    assert "lanes" in rules_broken(raw, tampered(plan, "shipments", ship_b_to_x))


def test_buying_on_a_pair_the_lanes_table_does_not_allow_is_caught() -> None:
    raw = instances.tariff_flip()
    raw["lanes"] = [lane for lane in raw["lanes"] if lane["origin"] != "mx_fab"]
    plan = solve_checked(raw)
    assert set(plan.tables["sourcing"].offer) == {"chip_tw"}

    def buy_from_mexico(frame: pd.DataFrame) -> None:
        frame["offer"], frame["supplier"], frame["origin_country"] = "chip_mx", "mx_fab", "MX"

    assert "lanes" in rules_broken(raw, tampered(plan, "sourcing", buy_from_mexico))


def test_a_misstated_origin_country_is_caught() -> None:
    raw = instances.tariff_flip()
    plan = solve_checked(raw)

    def relabel(frame: pd.DataFrame) -> None:
        frame["origin_country"] = "US"

    assert "references" in rules_broken(raw, tampered(plan, "sourcing", relabel))


POLICIES_BROKEN_BY_THE_UNCONSTRAINED_PLAN = [
    # (instance, policy row): the instance's optimum without the policy breaks the policy
    (instances.tariff_flip, {"policy": "max_country_share", "component": "chip",
                             "country": "TW", "value": 0.5}),  # calm buys every chip in TW
    (instances.tariff_flip, {"policy": "min_domestic_share", "value": 0.5}),  # no US chip
    (instances.tariff_flip, {"policy": "min_suppliers", "component": "chip", "value": 2}),
    (instances.tariff_flip, {"policy": "max_supplier_share", "component": "chip",
                             "value": 0.5}),  # calm buys every chip from tw_fab
    (instances.two_site_transport, {"policy": "max_open_sites", "value": 0}),  # A opens
    (instances.two_site_transport, {"policy": "capex_budget", "value": 10}),  # A costs 50
]


@pytest.mark.parametrize(("instance", "policy"), POLICIES_BROKEN_BY_THE_UNCONSTRAINED_PLAN,
                         ids=lambda value: value.get("policy") if isinstance(value, dict) else "")
def test_a_plan_that_breaks_a_policy_is_caught(instance: Callable[[], dict[str, object]],
                                               policy: dict[str, object]) -> None:
    raw = instance()
    plan = solve_checked(raw)
    raw["policies"] = [policy]
    assert "policy" in rules_broken(raw, plan)


def test_a_plan_solved_under_policies_passes_them() -> None:
    """max_country_share TW 0.5: in calm half the chips come from Mexico (5 x 11 + 5 x 10 =
    105), in war all of them (110): expected 107.5."""
    raw = instances.tariff_flip()
    raw["policies"] = [{"policy": "max_country_share", "component": "chip", "country": "TW",
                        "value": 0.5}]
    plan = solve_checked(raw)
    assert plan.objective == pytest.approx(107.5)
