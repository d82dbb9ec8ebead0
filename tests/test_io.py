"""The three forms of the contract carry the same instance, and the plan is written whole."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reshore.data import flagship_path
from reshore.optimizer.io import load_network, write_csv_folder, write_json, write_xlsx
from reshore.optimizer.results import TABLE_COLUMNS
from reshore.optimizer.schema import parse_network
from tests import instances
from tests.conftest import solve_checked


@pytest.mark.parametrize("writer", [write_json, write_csv_folder, write_xlsx])
def test_round_trip_keeps_the_instance(tmp_path: Path, writer: object) -> None:
    network = parse_network(instances.bom_with_lead_time())
    suffix = {"write_json": ".json", "write_xlsx": ".xlsx"}.get(writer.__name__, "")  # type: ignore[attr-defined]
    path = writer(network, tmp_path / f"instance{suffix}")  # type: ignore[operator]
    assert load_network(path) == network


def test_plan_is_written_as_csv_xlsx_and_summary(tmp_path: Path) -> None:
    plan = solve_checked(instances.bom_with_lead_time())
    out = plan.write(tmp_path / "plan")
    for name, columns in TABLE_COLUMNS.items():
        frame = pd.read_csv(out / f"{name}.csv")
        assert list(frame.columns)[: len(columns)] == columns
    sheets = pd.read_excel(out / "plan.xlsx", sheet_name=None)
    assert set(TABLE_COLUMNS) | {"summary"} <= set(sheets)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(340)
    assert set(summary["timings"]) == {"prepare", "build", "handoff", "solve"}


def test_flagship_dataset_is_valid() -> None:
    network = load_network(flagship_path())
    assert 8 <= len(network.settings.periods) <= 12
    assert {p.product for p in network.products} >= {"rack"}
    assert len(network.scenarios) >= 3
    assert {s.country for s in network.sites} >= {"US", "MX", "TW"}
