"""Messy input as spreadsheets and scripts produce it, in each form of the contract (CSV
folder, xlsx, JSON): read correctly, or an error naming table, row, column and value; never a
traceback."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reshore.optimizer.io import load_network
from reshore.optimizer.schema import ContractError, InvalidNetwork, parse_network
from tests import instances
from tests.conftest import solve_checked
from tests.forms import FORMS, csv_text, write_form


def base() -> dict[str, Any]:
    """tariff_flip with fractional numbers, so that decimal separators matter."""
    raw = copy.deepcopy(instances.tariff_flip())
    raw["offers"][0]["unit_price"] = 10.5
    raw["offers"][1]["unit_price"] = 11.25
    return raw


def errors_loading(path: Path) -> list[ContractError]:
    with pytest.raises(InvalidNetwork) as caught:
        load_network(path)
    return caught.value.errors


def parse_errors(raw: dict[str, Any]) -> list[ContractError]:
    with pytest.raises(InvalidNetwork) as caught:
        parse_network(raw)
    return caught.value.errors


def located(errors: list[ContractError]) -> set[tuple[str, int | None, str | None]]:
    return {(e.table, e.row, e.column) for e in errors}


@pytest.mark.parametrize("form", FORMS)
def test_the_forms_written_here_read_back_as_the_instance(form: str, tmp_path: Path) -> None:
    assert load_network(write_form(base(), form, tmp_path)) == parse_network(base())


@pytest.mark.parametrize("form", FORMS)
def test_blank_rows_are_skipped(form: str, tmp_path: Path) -> None:
    """Excel leaves `,,,` rows after the data; scripts leave all-null records."""
    raw = base()
    blank: dict[str, Any] = dict.fromkeys(raw["demand"][0], "" if form != "json" else None)
    raw["demand"] += [blank, dict.fromkeys(blank, " " if form != "json" else None), {}]
    raw["demand"].insert(0, dict(blank))
    path = write_form(raw, form, tmp_path)
    if form == "csv":
        assert (path / "demand.csv").read_text().splitlines()[-1] == ",,,"
    assert load_network(path) == parse_network(base())


@pytest.mark.parametrize("form", FORMS)
def test_a_row_with_an_empty_key_names_table_row_and_column(form: str, tmp_path: Path) -> None:
    raw = base()
    raw["demand"].append({"customer": None, "product": "widget", "period": "P1",
                          "quantity": 5})
    raw["demand"].append({})  # a blank row after it: skipped, not an error
    errors = errors_loading(write_form(raw, form, tmp_path))
    assert located(errors) == {("demand", 2, "customer")}
    assert errors[0].message == "required value is missing"


def test_a_json_empty_string_key_is_shown(tmp_path: Path) -> None:
    raw = base()
    raw["demand"][0]["customer"] = ""
    errors = errors_loading(write_form(raw, "json", tmp_path))
    assert [str(e) for e in errors] == ["demand row 1 column customer: must not be empty"
                                        " (got '')"]


def test_semicolons_and_decimal_commas_are_read(tmp_path: Path) -> None:
    """What Excel writes in most of Europe: `;` between cells, `,` before decimals."""
    path = write_form(base(), "csv", tmp_path, separator=";", decimal=",")
    offers = (path / "offers.csv").read_text()
    assert "chip_tw;tw_fab;chip;10,5" in offers
    assert load_network(path) == parse_network(base())


def test_decimal_commas_with_thousands_points_are_read(tmp_path: Path) -> None:
    raw = base()
    path = write_form(raw, "csv", tmp_path, separator=";")
    (path / "demand.csv").write_text("customer;product;period;quantity\nC;widget;P1;1.234,5\n")
    network = load_network(path)
    assert network.demand[0].quantity == 1234.5


def test_a_decimal_comma_in_a_comma_separated_file_says_what_was_found(tmp_path: Path) -> None:
    path = write_form(base(), "csv", tmp_path)
    (path / "demand.csv").write_text("customer,product,period,quantity\nC,widget,P1,10,5\n")
    errors = errors_loading(path)
    assert located(errors) == {("demand", None, None)}
    assert "read as ','-separated" in errors[0].message
    assert "decimal comma" in errors[0].message


def test_a_csv_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    path = write_form(base(), "csv", tmp_path)
    (path / "customers.csv").write_bytes("customer,name,country\nC,Mülheim,US\n".encode("cp1252"))
    errors = errors_loading(path)
    assert located(errors) == {("customers", None, None)}
    assert "not UTF-8" in errors[0].message and "CSV UTF-8" in errors[0].message


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = write_form(base(), "csv", tmp_path)
    demand = path / "demand.csv"
    demand.write_bytes(b"\xef\xbb\xbf" + demand.read_bytes())
    assert load_network(path) == parse_network(base())


def empty_table(raw: dict[str, Any], form: str, table: str, folder: Path) -> Path:
    """`raw` written with `table` as a 0-byte file (CSV), a sheet with its header only (xlsx)
    or an empty list (JSON)."""
    header = list(raw[table][0])
    raw = {**raw, table: []}
    path = write_form(raw, form, folder)
    if form == "csv":
        (path / f"{table}.csv").write_text("")
    elif form == "xlsx":
        import openpyxl

        workbook = openpyxl.load_workbook(path)
        workbook[table].append(header)
        workbook.save(path)
    return path


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("table", ["demand", "sites", "customers"])
def test_a_required_table_without_rows_is_an_error(form: str, table: str,
                                                   tmp_path: Path) -> None:
    errors = errors_loading(empty_table(base(), form, table, tmp_path))
    assert any("has no rows" in e.message for e in errors)
    assert (table, None, None) in located(errors)


def test_a_header_only_required_csv_is_an_error(tmp_path: Path) -> None:
    path = write_form(base(), "csv", tmp_path)
    (path / "demand.csv").write_text("customer,product,period,quantity\n,,,\n")
    errors = errors_loading(path)
    assert [str(e) for e in errors] == ["demand: has no rows; this table needs at least one"]


@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_an_empty_optional_table_is_a_warning_carried_with_the_plan(form: str,
                                                                    tmp_path: Path) -> None:
    """bom given empty: widgets need no chip, so the plan buys nothing (production is free):
    objective 0, and the plan says why it may not be what was meant."""
    network = load_network(empty_table(base(), form, "bom", tmp_path / "in"))
    assert network.bom == []
    assert len(network.warnings) == 2
    assert "bom" in network.warnings[0] and "no rows" in network.warnings[0]
    assert network.warnings[1] == ("component(s) 'chip' in no bom row: no product uses them,"
                                   " so they are never bought")
    plan = solve_checked(network)
    assert plan.objective == pytest.approx(0)
    assert plan.warnings == list(network.warnings)
    out = plan.write(tmp_path / "plan")
    assert json.loads((out / "summary.json").read_text())["warnings"] == plan.warnings


def test_an_empty_table_list_in_json_is_no_warning(tmp_path: Path) -> None:
    """JSON names its empty tables on purpose (the writers do): no warning of the reader, but
    components that no BOM row uses are still pointed out."""
    raw = base()
    raw["policies"] = []
    assert load_network(write_form(raw, "json", tmp_path)).warnings == ()
    raw["bom"] = []
    warnings = load_network(write_form(raw, "json", tmp_path / "no-bom")).warnings
    assert warnings == ("component(s) 'chip' in no bom row: no product uses them, so they are"
                        " never bought",)


def test_json_null_means_default(tmp_path: Path) -> None:
    raw = base()
    raw["settings"]["unmet_penalty"] = None
    raw["settings"]["risk"] = None
    raw["offers"][0].update(origin_country=None, capacity_per_period=None, lead_periods=None)
    raw["customers"][0]["single_source"] = None
    raw["tariffs"][0]["from_period"] = None
    raw["policies"] = None
    assert load_network(write_form(raw, "json", tmp_path)) == parse_network(base())


@pytest.mark.parametrize("form", FORMS)
def test_a_misspelt_column_is_one_error_with_did_you_mean(form: str, tmp_path: Path) -> None:
    raw = instances.two_site_transport()
    for row in raw["demand"]:
        row["quantiy"] = row.pop("quantity")
    errors = errors_loading(write_form(raw, form, tmp_path))
    assert [str(e) for e in errors] == [
        "demand row 1 column quantiy: unknown column (given in 2 rows); did you mean"
        " 'quantity'?"]


def test_a_misspelt_settings_key_and_table_get_did_you_mean() -> None:
    raw = base()
    raw["settings"]["discount_rat"] = 0.1
    raw["tarifs"] = raw.pop("tariffs")
    messages = {str(e) for e in parse_errors(raw)}
    assert "settings column discount_rat: unknown column; did you mean 'discount_rate'?" in (
        messages)
    assert "tarifs: unknown table; did you mean 'tariffs'?" in messages


@pytest.mark.parametrize("form", FORMS)
def test_a_wrong_value_is_shown_in_its_message(form: str, tmp_path: Path) -> None:
    raw = base()
    raw["site_tiers"][0]["capacity_hours"] = "lots"
    raw["sites"][0]["status"] = "exsting"
    errors = {(e.table, e.row, e.column): e.message
              for e in errors_loading(write_form(raw, form, tmp_path))}
    assert errors[("site_tiers", 1, "capacity_hours")] == "must be a number (got 'lots')"
    assert "(got 'exsting')" in errors[("sites", 1, "status")]


OUT_OF_RANGE = [
    # table, column, value as written in a CSV cell, value as JSON, message
    ("site_tiers", "opening_cost", "1e308", 1e308, "must be at most 1e+12"),
    ("site_tiers", "capacity_hours", "inf", math.inf, "must be a finite number"),
    ("offers", "unit_price", "nan", math.nan, "must be a finite number"),
    ("offers", "capacity_per_period", "2e9", 2e9, "must be at most 1e+09"),
    ("demand", "quantity", "-1", -1, "must be at least 0"),
    ("tariffs", "rate", "50", 50, "must be at most 10"),
    ("lanes", "cost_per_unit", "1e13", 1e13, "must be at most 1e+12"),
]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("table", "column", "cell", "number", "message"), OUT_OF_RANGE)
def test_numbers_beyond_a_columns_range_are_errors_showing_the_value(
        form: str, table: str, column: str, cell: str, number: float, message: str,
        tmp_path: Path) -> None:
    raw = base()
    raw[table][0][column] = number if form != "csv" else cell
    if form == "xlsx" and not math.isfinite(number):
        raw[table][0][column] = cell  # a workbook cell holds the text a user typed
    errors = errors_loading(write_form(raw, form, tmp_path))
    assert located(errors) == {(table, 1, column)}
    assert errors[0].message.startswith(message)
    assert "(got " in errors[0].message


@pytest.mark.parametrize("settings", [{"threads": 0}, {"threads": 100_000},
                                      {"time_limit_s": -5}, {"mip_gap": -1},
                                      {"time_limit_s": math.inf}])
def test_solver_settings_are_bounded(settings: dict[str, float]) -> None:
    raw = base()
    raw["settings"]["solver"] = settings
    errors = parse_errors(raw)
    assert located(errors) == {("settings", None, f"solver.{next(iter(settings))}")}


@pytest.mark.parametrize("bad", ["a\x00b", "a\x07b", "line\nbreak", "tab\there", "zero\u200bwidth"])
def test_ids_are_printable_characters_only(bad: str, tmp_path: Path) -> None:
    raw = base()
    raw["customers"][0]["customer"] = bad
    raw["demand"][0]["customer"] = bad
    errors = errors_loading(write_form(raw, "json", tmp_path))
    assert {("customers", 1, "customer"), ("demand", 1, "customer")} <= located(errors)
    message = next(e.message for e in errors if e.table == "customers")
    assert message.startswith("must be printable characters only")
    assert repr(bad) in message


def test_a_control_character_in_a_csv_id_is_an_error(tmp_path: Path) -> None:
    path = write_form(base(), "csv", tmp_path)
    (path / "customers.csv").write_text('customer,country\n"C\x01",US\n')
    errors = errors_loading(path)
    assert ("customers", 1, "customer") in located(errors)


def test_names_may_hold_line_breaks_but_no_other_control_characters() -> None:
    raw = base()
    raw["customers"][0]["name"] = "Campus\nnorth"
    assert parse_network(raw).customers[0].name == "Campus\nnorth"
    raw["customers"][0]["name"] = "bell\x07"
    errors = parse_errors(raw)
    assert located(errors) == {("customers", 1, "name")}


def test_period_labels_typed_as_numbers_in_a_workbook_are_read_as_text(tmp_path: Path) -> None:
    raw = base()
    raw["settings"]["periods"] = ["2027"]
    raw["demand"][0]["period"] = 2027  # Excel stores what looks like a number as a number
    network = load_network(write_form(raw, "xlsx", tmp_path))
    assert network.demand[0].period == "2027"


@pytest.mark.parametrize("form", FORMS)
def test_a_demand_with_no_site_reaching_its_customer_names_the_customer(
        form: str, tmp_path: Path) -> None:
    raw = base()
    raw["lanes"] = [lane for lane in raw["lanes"] if lane["destination"] != "C"]
    errors = errors_loading(write_form(raw, form, tmp_path))
    assert [str(e) for e in errors] == [
        "demand row 1 column product: no possible path to customer 'C' for product 'widget':"
        " no site has a lane to customer 'C'"]


@pytest.mark.parametrize("form", FORMS)
def test_a_demand_whose_component_reaches_no_site_names_the_component(
        form: str, tmp_path: Path) -> None:
    raw = base()
    raw["components"].append({"component": "gpu"})
    raw["bom"].append({"product": "widget", "component": "gpu", "quantity": 1.0})
    raw["suppliers"].append({"supplier": "nv", "country": "US"})
    raw["offers"].append({"offer": "gpu_nv", "supplier": "nv", "component": "gpu",
                          "unit_price": 1.0})
    raw["lanes"] = [lane for lane in raw["lanes"] if lane["origin"] != "tw_fab"]
    errors = errors_loading(write_form(raw, form, tmp_path))
    assert [e.message for e in errors] == [
        "no possible path to customer 'C' for product 'widget': no offer of component 'gpu'"
        " has a lane to a site that reaches the customer ('S')"]


def test_a_component_without_any_offer_is_named() -> None:
    raw = base()
    raw["components"].append({"component": "gpu"})
    raw["bom"].append({"product": "widget", "component": "gpu", "quantity": 1.0})
    errors = parse_errors(raw)
    assert errors[0].message.endswith("component 'gpu' has no offer")


@pytest.mark.parametrize("form", FORMS)
def test_without_lanes_the_instance_is_valid_and_every_pair_is_allowed(
        form: str, tmp_path: Path) -> None:
    """The reproduction of the lanes-absent fault: suppliers, sites and customers with
    coordinates and no lanes table validate, and the plan serves every unit (see
    test_defaults for the hand-worked optimum)."""
    from tests.test_defaults import on_the_equator

    network = load_network(write_form(on_the_equator(), form, tmp_path))
    assert network.lanes is None
    plan = solve_checked(network)
    assert plan.service_level() == 1.0


def test_row_numbers_count_blank_rows_in_cross_table_errors(tmp_path: Path) -> None:
    raw = base()
    raw["bom"] = [{}, {}, {"product": "widget", "component": "gpu", "quantity": 1}]
    errors = errors_loading(write_form(raw, "csv", tmp_path))
    assert located(errors) == {("bom", 3, "component")}


def test_csv_text_helper_writes_blank_cells_for_missing_values() -> None:
    assert csv_text([{"a": 1, "b": None}, {"a": None, "b": 2.5}], ";", ",") == (
        "a;b\n1;\n;2,5\n")


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.sampled_from(["", " ", "nan", "inf", "1e308", "\x00", "*", "=1+1",
                                          "1,5", "P1", "S", "C"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2))


@st.composite
def damaged(draw: st.DrawFn) -> dict[str, Any]:
    """tariff_flip with a few cells, rows or tables replaced by junk, or columns renamed."""
    raw = base()
    for _ in range(draw(st.integers(1, 4))):
        table = draw(st.sampled_from(sorted(raw)))
        rows = raw[table]
        kind = draw(st.sampled_from(["cell", "row", "table", "column"]))
        if kind == "table" or not isinstance(rows, list) or not rows:
            raw[table] = draw(JUNK)
            continue
        number = draw(st.integers(0, len(rows) - 1))
        if kind == "row" or not isinstance(rows[number], dict):
            rows[number] = draw(JUNK)
            continue
        column = draw(st.sampled_from(sorted(rows[number]) or ["x"]))
        if kind == "column":
            rows[number][draw(st.text(min_size=1, max_size=6))] = rows[number].pop(column, None)
        else:
            rows[number][column] = draw(JUNK)
    return raw


@settings(max_examples=150, deadline=None)
@given(damaged())
def test_damaged_input_is_a_network_or_contract_errors_never_an_exception(
        raw: dict[str, Any]) -> None:
    try:
        parse_network(raw)
    except InvalidNetwork as invalid:
        assert invalid.errors and all(isinstance(e, ContractError) for e in invalid.errors)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["demand", "offers", "sites", "lanes"]), st.text(max_size=40))
def test_any_text_in_a_csv_table_is_read_or_reported(table: str, text: str) -> None:
    with TemporaryDirectory() as folder:
        path = write_form(base(), "csv", Path(folder))
        (path / f"{table}.csv").write_text(text, encoding="utf-8")
        try:
            load_network(path)
        except InvalidNetwork as invalid:
            assert invalid.errors


def test_a_workbook_settings_key_that_is_both_a_value_and_a_group_is_an_error(
        tmp_path: Path) -> None:
    raw = base()
    raw["settings"]["risk"] = 5
    path = write_form(raw, "xlsx", tmp_path)
    import openpyxl

    workbook = openpyxl.load_workbook(path)
    workbook["settings"].append(["risk.alpha", 0.9])
    workbook.save(path)
    errors = errors_loading(path)
    assert located(errors) == {("settings", 4, "key")}
    assert "'risk' is also given a value" in errors[0].message


def test_a_csv_value_under_a_column_without_a_name_is_reported(tmp_path: Path) -> None:
    path = write_form(base(), "csv", tmp_path)
    (path / "customers.csv").write_text("customer,country,\nC,US,oops\n")
    errors = errors_loading(path)
    assert [str(e) for e in errors] == [
        "customers row 1 column (column 3 has no name): unknown column"]
