"""`reshore whatif`, `analyze` and `report` as a user runs them: real processes, their
output, files and exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reshore.optimizer.io import write_json
from reshore.optimizer.schema import parse_network
from tests import instances
from tests.test_cli import reshore

VARIANTS = """
variants:
  - name: cheap_b
    changes:
      - {table: site_tiers, where: {site: B}, set: {opening_cost: [10, 100]}}
  - name: tiny_sites
    changes:
      - {table: site_tiers, scale: {capacity_hours: 0.1}}
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return write_json(parse_network(instances.two_site_transport()), tmp_path / "base.json")


def test_whatif_writes_plans_comparison_and_report(base: Path, tmp_path: Path) -> None:
    """two_site_transport: base 290 (A alone). B opening at 10: both open, 50 + 10 + 60 + 60
    = 180; at 100: both open, 50 + 100 + 60 + 60 = 270 < 290. Tiny sites: infeasible."""
    variants = tmp_path / "variants.yaml"
    variants.write_text(VARIANTS)
    out = tmp_path / "run"
    result = reshore("whatif", str(base), str(variants), "--out", str(out), "--jobs", "1",
                     "--gap", "1e-9", "--report")
    assert result.returncode == 0, result.stderr
    assert "[4/4]" in result.stderr
    table = pd.read_csv(out / "comparison.csv").set_index("variant")
    assert table.loc["cheap_b[opening_cost=10]", "objective"] == pytest.approx(180)
    assert table.loc["cheap_b[opening_cost=100]", "objective"] == pytest.approx(270)
    assert table.loc["tiny_sites", "status"] == "infeasible"
    assert "opens B std in P1 (base: not" in result.stdout
    assert (out / "report.html").exists() and (out / "frontier.json").exists()
    assert (out / "variants" / "cheap_b_opening_cost=10" / "plan.xlsx").exists()

    again = reshore("report", str(out), "--out", str(tmp_path / "again.html"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.html").stat().st_size > 1_000_000


def test_whatif_with_warm_start_says_what_highs_made_of_each_start(base: Path,
                                                                  tmp_path: Path) -> None:
    """The base plan (A open, B not) is a plan of both cheap_b variants (290) and no plan of
    tiny_sites (20 hours); the optima are those of the cold run above."""
    variants = tmp_path / "variants.yaml"
    variants.write_text(VARIANTS)
    out = tmp_path / "run"
    result = reshore("whatif", str(base), str(variants), "--out", str(out), "--jobs", "2",
                     "--gap", "1e-9", "--warm-start")
    assert result.returncode == 0, result.stderr
    assert "the base first, its plan the variants' MIP start" in result.stderr
    runs = {r["name"]: r for r in json.loads((out / "whatif.json").read_text())["runs"]}
    assert runs["base"]["warm_start"] == ""
    assert runs["cheap_b[opening_cost=10]"]["warm_start"].startswith("accepted")
    assert runs["cheap_b[opening_cost=100]"]["warm_start"].startswith("accepted")
    assert runs["tiny_sites"]["warm_start"].startswith("rejected")
    assert all(r["check_ok"] is not False for r in runs.values())
    table = pd.read_csv(out / "comparison.csv").set_index("variant")
    assert table.loc["cheap_b[opening_cost=10]", "objective"] == pytest.approx(180)
    assert table.loc["cheap_b[opening_cost=100]", "objective"] == pytest.approx(270)
    assert table.loc["tiny_sites", "status"] == "infeasible"


def test_a_bad_variants_file_exits_2_with_a_clear_error(base: Path, tmp_path: Path) -> None:
    variants = tmp_path / "variants.yaml"
    variants.write_text("variants:\n  - name: x\n    changes:\n"
                        "      - {table: sites, where: {site: HOU}, delete: true}\n")
    result = reshore("whatif", str(base), str(variants), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "variant 'x' change 1: where {\"site\": \"HOU\"} matches no row of table sites" in (
        result.stderr)
    assert "Traceback" not in result.stderr


def test_analyze_prints_the_figures_as_json(tmp_path: Path) -> None:
    """capacity_gamble (tests/instances.py): rp 180, ws 54, ev 100, eev 250, evpi 126,
    vss 70."""
    path = write_json(parse_network(instances.capacity_gamble()), tmp_path / "gamble.json")
    result = reshore("analyze", str(path), "--json", "--jobs", "1", "--gap", "1e-9",
                     "--no-site-values")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert {k: figures[k] for k in ("rp", "ws", "ev", "eev", "evpi", "vss")} == pytest.approx(
        {"rp": 180, "ws": 54, "ev": 100, "eev": 250, "evpi": 126, "vss": 70})
    assert len(figures["frontier"]) >= 6


def test_report_without_an_instance_exits_2(tmp_path: Path) -> None:
    (tmp_path / "plan").mkdir()
    result = reshore("report", str(tmp_path / "plan"))
    assert result.returncode == 2
    assert "no input.json" in result.stderr and "Traceback" not in result.stderr
