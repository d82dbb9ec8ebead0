"""Bad input: every kind of contract error is reported with its table, row and column, all at
once, and nothing crashes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reshore.optimizer.io import load_network
from reshore.optimizer.schema import ContractError, InvalidNetwork, parse_network
from tests import instances


def errors_of(raw: dict[str, Any]) -> list[ContractError]:
    with pytest.raises(InvalidNetwork) as caught:
        parse_network(raw)
    return caught.value.errors


def located(errors: list[ContractError]) -> set[tuple[str, int | None, str | None]]:
    return {(e.table, e.row, e.column) for e in errors}


def base() -> dict[str, Any]:
    return copy.deepcopy(instances.tariff_flip())


def test_valid_instance_parses() -> None:
    network = parse_network(base())
    assert [s.scenario for s in network.scenarios] == ["calm", "war"]


def test_unknown_reference_names_the_row() -> None:
    raw = base()
    raw["bom"].append({"product": "widget", "component": "gpu", "quantity": 1})
    errors = errors_of(raw)
    assert ("bom", 2, "component") in located(errors)
    assert "unknown component 'gpu'" in str(errors[0])


def test_negative_and_wrong_type_values_are_located() -> None:
    raw = base()
    raw["offers"][0]["unit_price"] = -3
    raw["site_tiers"][0]["capacity_hours"] = "lots"
    errors = errors_of(raw)
    assert {("offers", 1, "unit_price"), ("site_tiers", 1, "capacity_hours")} <= located(errors)


def test_probabilities_must_sum_to_one() -> None:
    raw = base()
    raw["scenarios"][1]["probability"] = 0.4
    errors = errors_of(raw)
    assert located(errors) == {("scenarios", None, "probability")}
    assert "sum to 0.9" in errors[0].message


def test_demand_without_a_path_is_named() -> None:
    raw = base()
    raw["lanes"] = [lane for lane in raw["lanes"] if lane["destination"] != "C"]
    errors = errors_of(raw)
    assert located(errors) == {("demand", 1, "product")}
    assert "customer 'C'" in errors[0].message and "'widget'" in errors[0].message


def test_component_without_any_offer_reaching_a_site_blocks_the_path() -> None:
    raw = base()
    raw["lanes"] = [lane for lane in raw["lanes"] if lane["origin"] not in ("tw_fab", "mx_fab")]
    assert ("demand", 1, "product") in located(errors_of(raw))


def test_every_error_is_reported_at_once() -> None:
    raw = base()
    raw["offers"][0]["unit_price"] = -1
    raw["demand"][0]["quantity"] = -5
    raw["customers"][0]["colour"] = "blue"
    del raw["sites"][0]["country"]
    got = located(errors_of(raw))
    assert {("offers", 1, "unit_price"), ("demand", 1, "quantity"), ("customers", 1, "colour"),
            ("sites", 1, "country")} <= got


def test_duplicate_keys_and_missing_tables() -> None:
    raw = base()
    raw["offers"].append(dict(raw["offers"][0]))
    assert ("offers", 3, "offer") in located(errors_of(raw))
    raw = base()
    del raw["customers"]
    assert ("customers", None, None) in located(errors_of(raw))


def test_unknown_tables_and_settings_are_errors() -> None:
    raw = base()
    raw["warehouses"] = []
    raw["settings"]["risk"] = {"measure": "var"}
    got = located(errors_of(raw))
    assert ("warehouses", None, None) in got
    assert ("settings", None, "risk.measure") in got


def test_lane_directions_and_site_tier_rules() -> None:
    raw = base()
    raw["lanes"].append({"origin": "tw_fab", "destination": "C"})
    raw["site_tiers"].append({"site": "S", "tier": "extra", "capacity_hours": 1})
    got = located(errors_of(raw))
    assert ("lanes", 4, "destination") in got
    assert ("sites", 1, "status") in got


def test_policy_values_are_checked() -> None:
    raw = base()
    raw["policies"] = [{"policy": "max_country_share", "country": "TW", "value": 1.5},
                       {"policy": "min_suppliers", "component": "chip", "value": 1.5},
                       {"policy": "max_open_sites", "component": "chip", "value": 2}]
    got = located(errors_of(raw))
    assert {("policies", 1, "value"), ("policies", 2, "value"),
            ("policies", 3, "component")} <= got


def test_horizon_rules() -> None:
    raw = base()
    raw["settings"]["periods"] = ["P1", "P1"]
    raw["settings"]["commit_periods"] = 3
    got = located(errors_of(raw))
    assert ("settings", None, "periods") in got
    assert ("settings", None, "commit_periods") in got


def test_missing_coordinates_when_lanes_are_absent() -> None:
    raw = base()
    del raw["lanes"]
    assert ("sites", 1, "lat") in located(errors_of(raw))


def test_unreadable_files_are_contract_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InvalidNetwork, match="unreadable JSON"):
        load_network(broken)
    with pytest.raises(InvalidNetwork, match="no such file"):
        load_network(tmp_path / "absent.json")
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([1, 2]))
    with pytest.raises(InvalidNetwork, match="object of tables"):
        load_network(listed)
    with pytest.raises(InvalidNetwork, match="unknown input form"):
        (tmp_path / "x.txt").write_text("")
        load_network(tmp_path / "x.txt")


def test_csv_errors_carry_the_csv_row(tmp_path: Path) -> None:
    from reshore.optimizer.io import write_csv_folder

    folder = write_csv_folder(parse_network(base()), tmp_path / "inst")
    offers = (folder / "offers.csv").read_text().splitlines()
    offers[2] = offers[2].replace("11.0", "-11")
    (folder / "offers.csv").write_text("\n".join(offers) + "\n")
    with pytest.raises(InvalidNetwork) as caught:
        load_network(folder)
    assert located(caught.value.errors) == {("offers", 2, "unit_price")}


def test_reference_errors_come_with_shape_errors() -> None:
    raw = base()
    raw["offers"][0]["unit_price"] = -1
    raw["bom"][0]["component"] = "gpu"
    got = located(errors_of(raw))
    assert {("offers", 1, "unit_price"), ("bom", 1, "component")} <= got


def test_a_place_id_names_one_place_only() -> None:
    raw = base()
    raw["customers"].append({"customer": "tw_fab", "country": "US"})
    errors = errors_of(raw)
    assert located(errors) == {("customers", 2, "customer")}
    assert "'tw_fab' is already the id of one of the suppliers" in errors[0].message


def test_a_site_that_cannot_operate_within_the_horizon_reaches_no_one() -> None:
    raw = instances.tier_choice(40)
    raw["sites"][0]["build_periods"] = 1  # one period of horizon, one of building
    errors = errors_of(raw)
    assert [str(e) for e in errors] == [
        "demand row 1 column product: no possible path to customer 'C' for product 'rack':"
        " no site has a lane to customer 'C' that can operate within the horizon ('S' could"
        " start only after the last period)"]
