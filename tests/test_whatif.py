"""What-if runs on a tiny instance: base and variants solved in worker processes, one
infeasible variant does not stop the others, the comparison says what changed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reshore.optimizer.schema import parse_network
from reshore.optimizer.variants import apply_all, parse_variants
from reshore.optimizer.whatif import (
    LEADING_COLUMNS,
    SolveLimits,
    folder_name,
    run_whatif,
    write_whatif,
)
from tests.instances import two_site_transport

VARIANTS = {"variants": [
    {"name": "cheap_b", "changes": [
        {"table": "site_tiers", "where": {"site": "B"}, "set": {"opening_cost": 10}}]},
    {"name": "tiny_sites", "changes": [
        {"table": "site_tiers", "scale": {"capacity_hours": 0.1}}]},
]}


@pytest.mark.parametrize("jobs", [1, 2])
def test_whatif_compares_variants_and_survives_an_infeasible_one(jobs: int,
                                                                  tmp_path: Path) -> None:
    """Base (two_site_transport): only A opens, 50 + 60 + 180 = 290.
    cheap_b (B opens at 10): A alone 290, B alone 10 + 120 + 60 = 190, both
    50 + 10 + 60 + 60 = 180 -> both open, 180, delta -110 (-37.93 %).
    tiny_sites: capacity 20 + 20 < demand 120 and unmet demand is not allowed -> infeasible.
    """
    base = parse_network(two_site_transport())
    applied = apply_all(base, parse_variants(VARIANTS))
    lines: list[str] = []
    result = run_whatif(base, applied, jobs=jobs, limits=SolveLimits(mip_gap=1e-9, threads=1),
                        progress=lines.append)
    assert len(lines) == 3 and all(line.startswith("[") for line in lines)
    table = result.comparison
    assert list(table.columns[:len(LEADING_COLUMNS)]) == LEADING_COLUMNS
    rows = table.set_index("variant")
    assert rows.loc["base", "objective"] == pytest.approx(290)
    assert rows.loc["cheap_b", "status"] == "optimal"
    assert rows.loc["cheap_b", "objective"] == pytest.approx(180)
    assert rows.loc["cheap_b", "delta_objective"] == pytest.approx(-110)
    assert rows.loc["cheap_b", "delta_objective_pct"] == pytest.approx(-110 / 290 * 100)
    assert rows.loc["cheap_b", "changes"] == "opens B std in P1 (base: not opened)"
    assert rows.loc["tiny_sites", "status"] == "infeasible"
    assert "80 units short" in str(rows.loc["tiny_sites", "reason"])
    assert all(o.check_ok for o in result.runs if o.plan is not None and o.plan.has_solution)

    out = write_whatif(result, tmp_path / "run")
    written = pd.read_csv(out / "comparison.csv")
    assert list(written.columns[:len(LEADING_COLUMNS)]) == LEADING_COLUMNS
    assert (out / "comparison.xlsx").exists()
    assert (out / "variants" / "cheap_b" / "summary.json").exists()
    assert (out / "base" / "sites.csv").exists()


def test_folder_names_are_safe() -> None:
    assert folder_name("tw_sweep[rate=0.1]") == "tw_sweep_rate=0.1"
    assert folder_name("a/b c") == "a_b_c"


WARM_VARIANTS = {"variants": [
    *VARIANTS["variants"],
    {"name": "no_a", "changes": [{"table": "sites", "where": {"site": "A"}, "delete": True}]},
]}


def test_warm_started_variants_reach_the_cold_optima() -> None:
    """The base plan (A open, B not) handed to each variant as a MIP start, by variable key:
    cheap_b: the base's decisions are feasible there (290), HiGHS accepts them and still
    finds the optimum, both open, 180. tiny_sites: A's 20 hours cannot serve 120 -> the start
    is rejected, the variant is infeasible either way. no_a: A's keys are gone and B starts
    at 0 -> no capacity, rejected; B alone: 150 + 2 x 60 + 1 x 60 = 330, as cold."""
    base = parse_network(two_site_transport())
    applied = apply_all(base, parse_variants(WARM_VARIANTS))
    limits = SolveLimits(mip_gap=1e-9, threads=1)
    cold = run_whatif(base, applied, jobs=1, limits=limits, warm_start=False)
    lines: list[str] = []
    warm = run_whatif(base, applied, jobs=1, limits=limits, warm_start=True,
                      progress=lines.append)
    verdicts = {o.name: o.warm_start for o in warm.runs}
    assert verdicts["base"] == ""
    assert verdicts["cheap_b"].startswith("accepted"), verdicts
    assert "objective value 290 " in verdicts["cheap_b"]  # the base decisions in cheap_b
    assert verdicts["tiny_sites"].startswith("rejected"), verdicts
    assert verdicts["no_a"].startswith("rejected"), verdicts
    assert all(o.warm_start == "" for o in cold.runs)
    assert "warm start accepted" in next(line for line in lines if "cheap_b" in line)
    for name, objective in (("base", 290), ("cheap_b", 180), ("no_a", 330)):
        for result in (cold, warm):
            outcome = next(o for o in result.runs if o.name == name)
            assert outcome.plan is not None and outcome.status == "optimal"
            assert outcome.plan.objective == pytest.approx(objective)
            assert outcome.check_ok is True
    assert next(o for o in warm.runs if o.name == "tiny_sites").status == "infeasible"
