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


def tampered(plan: Plan, table: str, change: Callable[[pd.DataFrame], None]) -> Plan:
    tables = {name: frame.copy() for name, frame in plan.tables.items()}
    change(tables[table])
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
