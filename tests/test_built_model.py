"""The typed built model: what `build` hands to the solve, the plan and the diagnosis."""

from __future__ import annotations

import pandas as pd
import pyomo.environ as pyo
import pytest

from reshore.data.synthetic import generate
from reshore.models import network_design
from reshore.models.built import BuiltModel
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


def test_a_family_index_answers_membership_and_position_and_refuses_repeated_keys() -> None:
    built = BuiltModel(model=pyo.ConcreteModel(), elastic=False)
    keys = pd.DataFrame({"site": ["b", "a", "b"], "period": [0, 0, 1]})
    family = built.declare("x", "X_KEYS", keys, table=None, domain=pyo.NonNegativeReals)
    assert [v.index() for v in family.members()] == [("b", 0), ("a", 0), ("b", 1)]
    assert ("a", 0) in family.variable and ("a", 1) not in family.variable
    assert family.variable.index_set().ord(("b", 1)) == 3
    assert family.variable["a", 0] is family.members()[1]
    with pytest.raises(KeyError):
        family.variable["c", 0]
    single = built.declare("y", "Y_KEYS", pd.DataFrame({"offer": ["o2", "o1"]}), table=None)
    assert [v.index() for v in single.members()] == ["o2", "o1"]
    with pytest.raises(ValueError, match=r"variable family z: key \('a', 0\) appears more"):
        built.declare("z", "Z_KEYS", pd.DataFrame({"site": ["a", "a"], "period": [0, 0]}),
                      table=None)
