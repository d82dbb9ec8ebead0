"""Plan diffs on the tiny two-site transport instance, worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from reshore.optimizer.diff import PlanFolderError, diff_plans, read_plan
from tests import instances
from tests.conftest import solve_checked


def test_diff_of_two_written_plans(tmp_path: Path) -> None:
    """Capacity 200: only A opens, serving X (60 x 1) and Y (60 x 3) = 290. Capacity 100:
    both open, A serves X and B serves Y, 50 + 150 + 60 + 60 = 320.
    So B's row changes (not opened -> open), Y's shipment moves from A to B (one row
    removed, one added, 120 units moved), transport falls by 180 - 60 = 120 and the
    expected cost rises by 30."""
    before = solve_checked(instances.two_site_transport())
    after = solve_checked(instances.two_site_transport(capacity=100))
    assert before.objective == pytest.approx(290)
    assert after.objective == pytest.approx(320)
    before.write(tmp_path / "a")
    after.write(tmp_path / "b")
    diff = diff_plans(read_plan(tmp_path / "a"), read_plan(tmp_path / "b"))
    sites = diff.tables["sites"]
    assert (sites.added, sites.removed, sites.changed) == (0, 0, 1)
    assert sites.rows.site.tolist() == ["B"]
    shipments = diff.tables["shipments"]
    assert (shipments.added, shipments.removed, shipments.changed) == (1, 1, 0)
    assert shipments.units_moved == pytest.approx(120)
    assert shipments.cost_effect == pytest.approx(-120)
    assert diff.cost_effect == pytest.approx(30)
    assert diff.tables["production"].units_moved == pytest.approx(120)
    text = diff.format()
    assert "removed  base P1 A Y rack: 60 -> -" in text
    assert diff.to_json()["tables"]["shipments"]["units_moved"] == pytest.approx(120)
    same = diff_plans(read_plan(tmp_path / "a"), before)
    assert same.unchanged and same.units_moved == 0 and same.cost_effect == pytest.approx(0)


def test_a_folder_that_is_no_plan_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlanFolderError, match=r"summary\.json is missing"):
        read_plan(tmp_path)
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(PlanFolderError, match=r"sites\.csv is missing"):
        read_plan(tmp_path)


def test_cost_effect_weights_each_scenario_by_its_probability() -> None:
    """tariff_flip: calm and war (p 0.5 each). With the Taiwan tariff at 25 % in war, war
    buys the 10 chips from Mexico (110); at 0 % from Taiwan (100). Sourcing changes in war
    only: -10 in that scenario, -5 weighted by its probability, as the expected cost
    (105 -> 100)."""
    before = solve_checked(instances.tariff_flip(0.25))
    after = solve_checked(instances.tariff_flip(0.0))
    diff = diff_plans(before, after)
    sourcing = diff.tables["sourcing"]
    assert (sourcing.added, sourcing.removed) == (1, 1)
    assert sourcing.units_moved == pytest.approx(20)
    assert sourcing.cost_effect == pytest.approx(-5)
    assert diff.cost_effect == pytest.approx(-5)
