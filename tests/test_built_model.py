"""The typed built model: what `build` hands to the solve, the plan and the diagnosis."""

from __future__ import annotations

from reshore.data.synthetic import generate
from reshore.models import network_design
from reshore.optimizer.prepare import prepare
from reshore.optimizer.results import TABLE_COLUMNS
from reshore.optimizer.schema import parse_network
from tests import instances


def test_every_plan_table_but_costs_is_fed_by_a_variable_family() -> None:
    built = network_design.build(prepare(generate("S", seed=3)))
    fed = {family.table for family in built.families.values()} - {None}
    assert fed <= set(TABLE_COLUMNS)
    assert set(TABLE_COLUMNS) - fed == {"costs"}
    assert built.families["buy"].table == "sourcing"
    assert built.families["site_operating"].table is None


def test_only_the_elastic_model_has_slacks_one_per_requirement() -> None:
    raw = instances.tariff_flip()
    raw["policies"] = [{"policy": "max_country_share", "country": "TW", "value": 0.6},
                       {"policy": "min_suppliers", "component": "chip", "value": 2}]
    data = prepare(parse_network(raw))
    assert network_design.build(data).slacks == []
    elastic = network_design.build(data, elastic=True)
    assert [s.requirement for s in elastic.slacks] == [
        "demand", "max_country_share", "min_suppliers"]
    assert elastic.slacks[0].family is elastic.families["unmet"]
    for slack in elastic.slacks[1:]:
        assert slack.family.key_columns[0] == "policy_row"
        assert set(slack.family.keys.policy_row) == {
            {"max_country_share": 0, "min_suppliers": 1}[slack.requirement]}


def test_limits_name_the_capacity_and_policy_rows() -> None:
    raw = instances.tariff_flip()
    raw["offers"][0]["capacity_per_period"] = 4
    raw["policies"] = [{"policy": "max_country_share", "country": "TW", "value": 0.6}]
    built = network_design.build(prepare(parse_network(raw)))
    limits = {limit.requirement: limit for limit in built.limits}
    assert set(limits) == {"site_capacity", "supplier_capacity", "max_country_share"}
    assert limits["supplier_capacity"].key_columns == ("offer", "period", "scenario")
    assert limits["supplier_capacity"].row_keys() == [
        ("chip_tw", 0, "calm"), ("chip_tw", 0, "war")]
