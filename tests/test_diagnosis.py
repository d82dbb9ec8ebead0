"""An infeasible instance's diagnosis names what binds first, then the short demand,
aggregated by product and period; each instance's cause is known by construction."""

from __future__ import annotations

from typing import Any

from reshore.optimizer.results import Plan, PlanStatus
from tests import instances
from tests.conftest import solve_checked


def diagnosed(raw: dict[str, Any]) -> Plan:
    plan = solve_checked(raw)
    assert plan.status is PlanStatus.INFEASIBLE
    return plan


def kinds(plan: Plan) -> list[str]:
    """The kind of each finding (`binding`, `lead time`, `short`), in order."""
    return [line.split(":")[0] for line in plan.diagnosis]


def test_too_small_supplier_caps_are_named_before_the_short_demand() -> None:
    """10 widgets of one chip each; Taiwan sells at most 4 chips a period, Mexico 3: 7 chips,
    so 3 widgets are short, and both offers sell out, in both scenarios (the committed
    period ties them: the dual shows in one, the diagnosis names the limit in both)."""
    raw = instances.tariff_flip()
    raw["settings"]["commit_periods"] = 1
    for offer, capacity in zip(raw["offers"], [4, 3], strict=True):
        offer["capacity_per_period"] = capacity
    plan = diagnosed(raw)
    assert kinds(plan) == ["binding", "binding", "short"]
    assert plan.diagnosis[0] == (
        "binding: offer 'chip_mx' (supplier 'mx_fab', component 'chip') sells all of its"
        " capacity of 3 units per period for orders in P1")
    assert plan.diagnosis[1] == (
        "binding: offer 'chip_tw' (supplier 'tw_fab', component 'chip') sells all of its"
        " capacity of 4 units per period for orders in P1")
    assert plan.diagnosis[2] == (
        "short: product 'widget' in P1: 3 units short of 10 demanded: customer 'C' 3")


def test_full_site_capacity_is_named_with_its_hours() -> None:
    """Site S has 50 hours, customer C wants 80 one-hour racks: 30 short."""
    plan = diagnosed(instances.short_capacity(penalty=None))
    assert plan.diagnosis == [
        "binding: assembly capacity of site 'S' is used in full in P1 (50 h)",
        "short: product 'rack' in P1: 30 units short of 80 demanded: customer 'C' 30"]


def test_capacity_of_sites_opened_by_the_elastic_model_is_named() -> None:
    """Two candidate sites of 50 hours, 120 racks wanted: both open (their openings are fixed
    before the duals are read) and both are full; 20 racks are short."""
    plan = diagnosed(instances.two_site_transport(capacity=50))
    assert plan.diagnosis[:2] == [
        "binding: assembly capacity of site 'A' is used in full in P1 (50 h)",
        "binding: assembly capacity of site 'B' is used in full in P1 (50 h)"]
    assert kinds(plan) == ["binding", "binding", "short"]
    assert plan.diagnosis[2].startswith("short: product 'rack' in P1: 20 units short of 120")


def test_short_demand_is_aggregated_over_customers() -> None:
    """Nine customers want 20 racks each (180) from a 50-hour site: 130 short in total, so
    at least seven customers are short; the line names five and counts the rest."""
    raw = instances.short_capacity(penalty=None)
    raw["customers"] = [{"customer": f"C{i}", "country": "US"} for i in range(9)]
    raw["demand"] = [{"customer": f"C{i}", "product": "rack", "period": "P1", "quantity": 20}
                     for i in range(9)]
    raw["lanes"] = instances.lanes(*[("S", f"C{i}", 0) for i in range(9)])
    plan = diagnosed(raw)
    assert kinds(plan) == ["binding", "short"]
    short = plan.diagnosis[1]
    assert short.startswith("short: product 'rack' in P1: 130 units short of 180 demanded: ")
    assert short.count("customer '") == 5 and short.endswith("more customer(s)")


def test_a_site_built_too_late_is_named_as_a_lead_time() -> None:
    """The only site takes one period to build: P1's 40 racks cannot arrive; P2's 10 can."""
    raw = instances.tier_choice(40)
    del raw["settings"]["unmet_penalty"]
    raw["settings"]["periods"] = ["P1", "P2"]
    raw["sites"][0]["build_periods"] = 1
    raw["demand"].append({"customer": "C", "product": "rack", "period": "P2", "quantity": 10})
    plan = diagnosed(raw)
    assert plan.diagnosis == [
        "lead time: product 'rack' in P1: no site can deliver it in time: the first delivery"
        " possible is in P2 (customer(s) 'C')",
        "short: product 'rack' in P1: 40 units short of 40 demanded: customer 'C' 40"]


def test_a_supplier_lead_time_is_named_with_its_component() -> None:
    """Trays come only from Taiwan, one period after the order: P1's 3 racks lack trays."""
    raw = instances.bom_with_lead_time()
    del raw["settings"]["unmet_penalty"]
    raw["offers"] = [o for o in raw["offers"] if o["offer"] == "tray_tw"]
    plan = diagnosed(raw)
    assert kinds(plan) == ["lead time", "short"]
    assert "component 'tray' cannot reach a site that could deliver in time" in plan.diagnosis[0]
    assert "it arrives from P2" in plan.diagnosis[0]
    assert plan.diagnosis[1] == (
        "short: product 'rack' in P1: 3 units short of 3 demanded: customer 'C' 3")


def test_a_policy_that_cannot_hold_is_named_instead_of_the_demand() -> None:
    """At most 1 site may operate, each has 100 hours, 120 racks are wanted. Breaking the
    policy by one site serves all demand, so the policy is what the diagnosis names, and no
    demand is reported short."""
    raw = instances.two_site_transport(capacity=100)
    raw["policies"] = [{"policy": "max_open_sites", "value": 1}]
    plan = diagnosed(raw)
    assert plan.diagnosis == [
        "policy max_open_sites (policies row 1, value 1) cannot be satisfied together with the"
        " other requirements"]
