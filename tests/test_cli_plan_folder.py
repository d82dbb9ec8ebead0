"""`reshore solve --out` as a user runs it twice into one folder: the second run's result
replaces the first, whether or not it has a plan; input warnings are printed with the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from reshore.optimizer.io import write_csv_folder
from reshore.optimizer.schema import parse_network
from tests import instances
from tests.test_cli import reshore


def test_an_infeasible_solve_replaces_the_older_plan_and_says_why(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    feasible = write_csv_folder(parse_network(instances.short_capacity(10)), tmp_path / "ok")
    assert reshore("solve", str(feasible), "--out", str(out)).returncode == 0
    assert json.loads((out / "summary.json").read_text())["status"] == "optimal"

    infeasible = write_csv_folder(parse_network(instances.short_capacity(None)),
                                  tmp_path / "short")
    (infeasible / "policies.csv").write_text("policy,component,country,value\n")
    result = reshore("solve", str(infeasible), "--out", str(out))
    assert result.returncode == 1
    assert "Warning: policies.csv has a header but no rows" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "infeasible" and summary["diagnosis"]
    assert summary["warnings"] == ["policies.csv has a header but no rows: read as a table"
                                   " with no rows"]
    assert pd.read_csv(out / "production.csv").empty
    assert "Traceback" not in result.stderr


def test_an_empty_key_cell_in_a_csv_exits_2_naming_it(tmp_path: Path) -> None:
    folder = write_csv_folder(parse_network(instances.short_capacity(10)), tmp_path / "in")
    demand = folder / "demand.csv"
    demand.write_text(demand.read_text() + ",rack,P1,5,*\n,,,,\n,,,,\n")
    result = reshore("validate", str(folder))
    assert result.returncode == 2
    assert "demand row 2 column customer: required value is missing" in result.stderr
    assert "Traceback" not in result.stderr and "AttributeError" not in result.stderr
