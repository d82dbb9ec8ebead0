"""The plan's files as a planner opens them: sorted tables, a readable workbook, no live
formula from the data, and no older plan left behind by a solve without one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from reshore.optimizer.io import load_network, write_xlsx
from reshore.optimizer.results import TABLE_COLUMNS, PlanStatus
from reshore.optimizer.schema import parse_network
from reshore.optimizer.solve import solve
from tests import instances
from tests.conftest import solve_checked


def spring_and_two_scenarios() -> dict[str, Any]:
    """tariff_flip over periods Mar, Apr (Apr sorts first alphabetically) and scenarios war,
    calm (in that order), 10 widgets a period, nothing committed: calm buys Taiwanese chips
    (10), war Mexican ones (11). Expected 0.5 x 200 + 0.5 x 220 = 210."""
    raw = instances.tariff_flip()
    raw["settings"]["periods"] = ["Mar", "Apr"]
    raw["scenarios"].reverse()
    raw["demand"] = [{"customer": "C", "product": "widget", "period": p, "quantity": 10}
                     for p in ("Apr", "Mar")]
    return raw


def test_tables_are_sorted_by_scenario_period_and_key(tmp_path: Path) -> None:
    plan = solve_checked(spring_and_two_scenarios())
    assert plan.objective == pytest.approx(210)
    out = plan.write(tmp_path / "plan")
    sourcing = pd.read_csv(out / "sourcing.csv")
    assert list(zip(sourcing.scenario, sourcing.period, sourcing.offer, strict=True)) == [
        ("war", "Mar", "chip_mx"), ("war", "Apr", "chip_mx"),
        ("calm", "Mar", "chip_tw"), ("calm", "Apr", "chip_tw")]
    costs = pd.read_csv(out / "costs.csv")
    assert costs.scenario.tolist()[:2] == ["war", "war"]
    assert costs.category.tolist()[:3] == ["opening", "closing", "qualification"]
    records = plan.to_json()["sourcing"]
    assert [(r["scenario"], r["period"]) for r in records] == [
        ("war", "Mar"), ("war", "Apr"), ("calm", "Mar"), ("calm", "Apr")]


def test_the_workbook_is_laid_out_for_reading(tmp_path: Path) -> None:
    plan = solve_checked(spring_and_two_scenarios())
    workbook = openpyxl.load_workbook(plan.write(tmp_path / "plan") / "plan.xlsx")
    assert workbook.sheetnames[:2] == ["summary", "costs"]
    assert set(TABLE_COLUMNS) <= set(workbook.sheetnames)
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:"), sheet.title
        assert sheet.column_dimensions["A"].width >= 8, sheet.title
    sourcing = workbook["sourcing"]
    header = [cell.value for cell in sourcing[1]]
    cost = sourcing.cell(row=2, column=header.index("purchase_cost") + 1)
    assert cost.number_format == "#,##0.00" and cost.value == pytest.approx(110)


def test_the_summary_sheet_has_readable_rows_and_no_json(tmp_path: Path) -> None:
    plan = solve_checked(spring_and_two_scenarios())
    summary = pd.read_excel(plan.write(tmp_path / "plan") / "plan.xlsx", sheet_name="summary")
    assert list(summary.columns) == ["section", "item", "value"]
    values = summary.set_index(["section", "item"]).value
    assert values["result", "status"] == "optimal"
    assert values["result", "objective"] == pytest.approx(210)
    assert values["scenarios", "war probability"] == 0.5
    assert values["scenarios", "calm cost"] == pytest.approx(200)
    assert values["sites", "S"] == "kept (existing, tier only)"
    texts = [str(v) for v in summary.value]
    assert not any(text.startswith(("{", "[")) for text in texts)


def test_the_costs_sheet_is_category_by_scenario(tmp_path: Path) -> None:
    """Purchases: war 220, calm 200, expected 210; every other category 0."""
    plan = solve_checked(spring_and_two_scenarios())
    costs = pd.read_excel(plan.write(tmp_path / "plan") / "plan.xlsx", sheet_name="costs")
    assert list(costs.columns) == ["category", "war", "calm", "expected"]
    rows = {row[0]: list(row[1:]) for row in costs.itertuples(index=False, name=None)}
    assert rows["purchase"] == pytest.approx([220, 200, 210])
    assert rows["total"] == pytest.approx([220, 200, 210])
    assert rows["opening"] == [0, 0, 0]


def test_summary_json_has_scenario_probabilities_and_the_sites_decision(
        tmp_path: Path) -> None:
    plan = solve_checked(instances.two_site_transport())
    summary = json.loads((plan.write(tmp_path / "plan") / "summary.json").read_text())
    assert summary["scenario_probabilities"] == {"base": 1.0}
    assert summary["sites"] == [
        {"site": "A", "country": "US", "status": "open", "tier": "std", "open_period": "P1",
         "close_period": None, "decision": "opens P1 at tier std"},
        {"site": "B", "country": "US", "status": "not opened", "tier": None,
         "open_period": None, "close_period": None, "decision": "not opened"}]


def test_a_solve_without_a_plan_replaces_the_older_plan_in_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    solve_checked(instances.short_capacity(penalty=10)).write(out)
    assert len(pd.read_csv(out / "production.csv")) == 1
    plan = solve(parse_network(instances.short_capacity(penalty=None)))
    assert plan.status is PlanStatus.INFEASIBLE
    plan.write(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "infeasible" and summary["objective"] is None
    assert summary["diagnosis"] == plan.diagnosis and plan.diagnosis
    for name in TABLE_COLUMNS:
        assert pd.read_csv(out / f"{name}.csv").empty, name
    sheet = pd.read_excel(out / "plan.xlsx", sheet_name="summary").set_index(["section", "item"])
    assert sheet.value["result", "status"] == "infeasible"
    assert sheet.value["diagnosis", "1"] == plan.diagnosis[0]
    assert not list(out.glob(".*partial"))


FORMULAS = ['=HYPERLINK("http://example.com","click")', "+1+1", "-2+3", "@SUM(A1)"]


def formula_ids() -> dict[str, Any]:
    """two_site_transport with ids a spreadsheet would take for formulas; same optimum, 290."""
    raw = instances.two_site_transport()
    names = dict(zip(["A", "B", "X", "Y"], FORMULAS, strict=True))
    raw["sites"] = [{**s, "site": names[s["site"]]} for s in raw["sites"]]
    raw["site_tiers"] = [{**t, "site": names[t["site"]]} for t in raw["site_tiers"]]
    raw["customers"] = [{**c, "customer": names[c["customer"]]} for c in raw["customers"]]
    raw["demand"] = [{**d, "customer": names[d["customer"]]} for d in raw["demand"]]
    raw["lanes"] = [{**lane, "origin": names[lane["origin"]],
                     "destination": names[lane["destination"]]} for lane in raw["lanes"]]
    return raw


def text_cells(path: Path) -> list[Any]:
    workbook = openpyxl.load_workbook(path)
    return [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row
            if isinstance(cell.value, str)]


def test_ids_that_look_like_formulas_stay_text_in_the_plan_workbook(tmp_path: Path) -> None:
    plan = solve_checked(formula_ids())
    assert plan.objective == pytest.approx(290)
    cells = text_cells(plan.write(tmp_path / "plan") / "plan.xlsx")
    shown = [cell for cell in cells if cell.value in FORMULAS]
    assert {cell.value for cell in shown} == set(FORMULAS)
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in shown)
    assert not [cell for cell in cells if cell.data_type == "f"]


def test_ids_that_look_like_formulas_stay_text_in_an_instance_workbook(tmp_path: Path) -> None:
    network = parse_network(formula_ids())
    path = write_xlsx(network, tmp_path / "instance.xlsx")
    assert not [cell for cell in text_cells(path) if cell.data_type == "f"]
    assert load_network(path) == network
