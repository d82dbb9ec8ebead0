"""The `reshore` command as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reshore.optimizer.io import write_json
from reshore.optimizer.schema import parse_network
from tests import instances


def reshore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reshore.optimizer.cli", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def test_solve_prints_the_summary_and_writes_the_plan(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("cvar")), tmp_path / "risk.json")
    result = reshore("solve", str(path), "--out", str(tmp_path / "plan"))
    assert result.returncode == 0, result.stderr
    assert "Status: optimal" in result.stdout
    assert "us_site" in result.stdout and "opens P1 at tier std" in result.stdout
    assert "independent check: passed" in result.stderr
    assert (tmp_path / "plan" / "plan.xlsx").exists()


def test_json_summary_and_risk_override(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("cvar")), tmp_path / "risk.json")
    result = reshore("solve", str(path), "--out", str(tmp_path / "plan"), "--json",
                     "--risk", "expected")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["objective"] == 150
    assert summary["risk"]["measure"] == "expected"


def test_invalid_input_exits_2_listing_every_error(tmp_path: Path) -> None:
    raw = instances.tariff_flip()
    raw["offers"][0]["unit_price"] = -1
    raw["bom"][0]["component"] = "gpu"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    result = reshore("solve", str(bad))
    assert result.returncode == 2
    assert "offers row 1 column unit_price" in result.stderr
    assert "bom row 1 column component: unknown component 'gpu'" in result.stderr
    assert "Traceback" not in result.stderr


def test_infeasible_instance_exits_1_naming_the_demand(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.short_capacity(None)), tmp_path / "short.json")
    result = reshore("solve", str(path), "--out", str(tmp_path / "plan"))
    assert result.returncode == 1
    assert "Status: infeasible" in result.stdout
    assert "customer 'C'" in result.stdout
