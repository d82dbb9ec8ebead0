"""Variants: each change kind touches exactly the rows it names; lists expand to named
variants; bad changes are errors that name the variant, change, table, row or column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reshore.optimizer.schema import Network, parse_network
from reshore.optimizer.variants import (
    VariantError,
    apply_all,
    apply_variant,
    expand_all,
    parse_variants,
    read_variants,
)
from tests.instances import tariff_flip, two_site_transport


def _one(network: Network, *changes: dict[str, Any]) -> Network:
    variants = parse_variants({"variants": [{"name": "v", "changes": list(changes)}]})
    return apply_variant(network, expand_all(variants)[0]).network


def _tables(network: Network) -> dict[str, Any]:
    return network.to_tables()


@pytest.fixture
def base() -> Network:
    return parse_network(two_site_transport())


def test_set_changes_only_the_matched_rows(base: Network) -> None:
    changed = _tables(_one(base, {"table": "lanes", "where": {"origin": "A"},
                                  "set": {"cost_per_unit": 7}}))
    before = _tables(base)
    for old, new in zip(before["lanes"], changed["lanes"], strict=True):
        expected = {**old, "cost_per_unit": 7.0} if old["origin"] == "A" else old
        assert new == expected
    assert {k: v for k, v in changed.items() if k != "lanes"} == {
        k: v for k, v in before.items() if k != "lanes"}


def test_scale_and_add_change_only_the_matched_rows(base: Network) -> None:
    scaled = _tables(_one(base, {"table": "demand", "where": {"customer": "X"},
                                 "scale": {"quantity": 1.5}}))
    assert [row["quantity"] for row in scaled["demand"]] == [90.0, 60.0]
    added = _tables(_one(base, {"table": "site_tiers", "where": {"site": ["B"]},
                                "add": {"opening_cost": 25}}))
    assert [row["opening_cost"] for row in added["site_tiers"]] == [50.0, 175.0]


def test_append_adds_rows_and_settings_merge_nested_keys() -> None:
    network = parse_network(tariff_flip())
    changed = _tables(_one(
        network,
        {"table": "tariffs", "append": [{"scenario": "*", "origin_country": "MX",
                                         "destination_country": "US", "rate": 0.25}]},
        {"settings": {"risk": {"measure": "cvar", "weight": 0.5}}}))
    assert changed["tariffs"][:-1] == _tables(network)["tariffs"]
    assert changed["tariffs"][-1]["origin_country"] == "MX"
    assert changed["tariffs"][-1]["rate"] == 0.25
    assert changed["settings"]["risk"] == {"measure": "cvar", "alpha": 0.9, "weight": 0.5}
    assert changed["settings"]["periods"] == ["P1"]


def test_delete_takes_only_the_rows_that_would_break_the_contract(base: Network) -> None:
    variants = parse_variants({"variants": [{"name": "no_b", "changes": [
        {"table": "sites", "where": {"site": "B"}, "delete": True}]}]})
    applied = apply_variant(base, expand_all(variants)[0])
    tables = _tables(applied.network)
    assert [s["site"] for s in tables["sites"]] == ["A"]
    assert [t["site"] for t in tables["site_tiers"]] == ["A"]
    assert [(lane["origin"], lane["destination"]) for lane in tables["lanes"]] == [
        ("A", "X"), ("A", "Y")]
    assert tables["customers"] == _tables(base)["customers"]
    assert tables["demand"] == _tables(base)["demand"]
    assert any("site_tiers" in note for note in applied.notes)
    assert any("2 lanes" in note for note in applied.notes)


def test_list_values_expand_to_named_variants() -> None:
    variants = parse_variants({"variants": [
        {"name": "tw_sweep", "changes": [{"table": "tariffs", "where": {"origin_country": "TW"},
                                          "set": {"rate": [0.0, 0.1, 0.2, 0.4]}}]},
        {"name": "two", "changes": [
            {"table": "demand", "scale": {"quantity": [1, 2]}},
            {"table": "offers", "where": {"offer": "chip_mx"}, "add": {"unit_price": [0.5]}}]},
    ]})
    names = [v.name for v in expand_all(variants)]
    assert names == ["tw_sweep[rate=0.0]", "tw_sweep[rate=0.1]", "tw_sweep[rate=0.2]",
                     "tw_sweep[rate=0.4]", "two[quantity=1.0,unit_price=0.5]",
                     "two[quantity=2.0,unit_price=0.5]"]
    applied = apply_all(parse_network(tariff_flip()), variants)
    assert [a.network.tariffs[0].rate for a in applied[:4]] == [0.0, 0.1, 0.2, 0.4]


def test_a_where_matching_no_row_is_an_error(base: Network) -> None:
    with pytest.raises(VariantError, match=r"variant 'v' change 1: where \{\"site\": \"HOU\"\}"
                       " matches no row of table sites"):
        _one(base, {"table": "sites", "where": {"site": "HOU"}, "delete": True})


def test_unknown_columns_and_non_numbers_are_errors(base: Network) -> None:
    with pytest.raises(VariantError, match="where names unknown column 'sight' of table sites"):
        _one(base, {"table": "sites", "where": {"sight": "A"}, "delete": True})
    with pytest.raises(VariantError, match="table sites row 1 column country: value 'US' is not"
                       " a number"):
        _one(base, {"table": "sites", "where": {"site": "A"}, "scale": {"country": 2}})


def test_a_variant_that_breaks_the_contract_names_variant_table_row_and_column(
        base: Network) -> None:
    with pytest.raises(VariantError) as caught:
        _one(base, {"table": "site_tiers", "where": {"site": "B"},
                    "set": {"capacity_hours": -5}})
    assert "variant 'v': site_tiers row 2 column capacity_hours:" in str(caught.value)


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(VariantError, match="variant 1 'x' change 1: a change takes exactly one"
                       " of set, scale, add, delete, append, settings; found set, delete"):
        parse_variants({"variants": [{"name": "x", "changes": [
            {"table": "sites", "set": {"name": "n"}, "delete": True}]}]})
    with pytest.raises(VariantError, match="unknown table 'site'"):
        parse_variants({"variants": [{"name": "x", "changes": [
            {"table": "site", "delete": True}]}]})
    with pytest.raises(VariantError, match="repeated: x"):
        parse_variants({"variants": [{"name": "x", "changes": [{"settings": {}}]},
                                     {"name": "x", "changes": [{"settings": {}}]}]})
    broken = tmp_path / "v.yaml"
    broken.write_text("variants: [\n", encoding="utf-8")
    with pytest.raises(VariantError, match=r"v\.yaml: not valid YAML or JSON"):
        read_variants(broken)


def test_the_shipped_flagship_variants_apply_and_validate() -> None:
    from reshore.data import flagship_path
    from reshore.optimizer.io import load_network

    folder = flagship_path()
    applied = apply_all(load_network(folder), read_variants(folder / "whatif.yaml"))
    names = [a.name for a in applied]
    assert "no_houston" in names
    assert sum(name.startswith("tw_sweep[") for name in names) >= 5
