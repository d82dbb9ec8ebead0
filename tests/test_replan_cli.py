"""`reshore replan` and `reshore diff` as a user runs them: a real process."""

from __future__ import annotations

import json
from pathlib import Path

from reshore.optimizer.io import write_json
from reshore.optimizer.schema import parse_network
from tests.test_cli import reshore
from tests.test_replan import rolling


def test_solve_then_replan_then_diff(tmp_path: Path) -> None:
    """The rolling instance (see tests/test_replan.py): the first plan makes 50 at S in each
    period; demand in P3 rises to 150 and the replan at P2 with P2 frozen adds 50 at T and
    50 more at S in P3 (cost 3,100, 100 units of production moved)."""
    first = write_json(parse_network(rolling()), tmp_path / "v1.json")
    second = write_json(parse_network(rolling((50, 50, 150, 50))), tmp_path / "v2.json")
    solved = reshore("solve", str(first), "--out", str(tmp_path / "p1"))
    assert solved.returncode == 0, solved.stderr
    replanned = reshore("replan", "--previous", str(tmp_path / "p1"), str(second), "--now", "P2",
                        "--freeze", "1", "--change-penalty", "0.5", "--out",
                        str(tmp_path / "p2"))
    assert replanned.returncode == 0, replanned.stderr
    assert "independent check: passed" in replanned.stderr
    assert "Forced changes: 0" in replanned.stdout
    assert "warm start: accepted" in replanned.stdout
    report = json.loads((tmp_path / "p2" / "replan.json").read_text())
    assert report["diff"]["tables"]["production"]["units_moved"] == 100
    diffed = reshore("diff", str(tmp_path / "p1"), str(tmp_path / "p2"), "--json")
    assert diffed.returncode == 0, diffed.stderr
    diff = json.loads(diffed.stdout)
    assert diff["tables"]["production"]["added"] == 1
    assert diff["cost_effect"] == 1100
    text = reshore("diff", str(tmp_path / "p1"), str(tmp_path / "p2")).stdout
    assert "added    base P3 T rack: - -> 50" in text


def test_replan_errors_name_what_is_wrong(tmp_path: Path) -> None:
    instance = write_json(parse_network(rolling()), tmp_path / "v1.json")
    missing = reshore("replan", "--previous", str(tmp_path / "nowhere"), str(instance),
                      "--now", "P2")
    assert missing.returncode == 2
    assert "summary.json is missing" in missing.stderr and "Traceback" not in missing.stderr
    bad = reshore("replan", "--previous", str(tmp_path), str(instance), "--now", "P2",
                  "--change-penalty", "lots")
    assert bad.returncode == 2 and "'lots' is neither one number" in bad.stderr
    wrong = reshore("diff", str(tmp_path), str(tmp_path))
    assert wrong.returncode == 2 and "is not a plan folder" in wrong.stderr
