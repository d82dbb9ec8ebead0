"""The HTML report, opened in real headless Chromium with the network cut off: the map draws
state outlines and markers, every chart draws, no script error, nothing loaded from outside.
A screenshot is kept in the test's temporary folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from plotly.offline import get_plotlyjs

from reshore.optimizer.io import write_json
from reshore.optimizer.report import resource_loads, write_report
from reshore.optimizer.schema import parse_network
from tests.conftest import solve_checked
from tests.instances import lanes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def located_network() -> dict[str, Any]:
    """An existing Houston site and a candidate Juarez site serve Phoenix and Chicago; chips
    come from Taiwan (outside the map) or Guadalajara. Only its drawing matters here."""
    return {
        "settings": {"periods": ["P1", "P2"], "commit_periods": 0, "unmet_penalty": 1000},
        "sites": [
            {"site": "houston", "country": "US", "status": "existing", "lat": 29.8,
             "lon": -95.5},
            {"site": "juarez", "country": "MX", "lat": 31.7, "lon": -106.4},
        ],
        "site_tiers": [
            {"site": "houston", "tier": "current", "capacity_hours": 100},
            {"site": "juarez", "tier": "small", "capacity_hours": 100, "opening_cost": 10},
        ],
        "products": [{"product": "rack", "assembly_hours": 1, "unit_value": 100}],
        "components": [{"component": "chip"}],
        "bom": [{"product": "rack", "component": "chip", "quantity": 1}],
        "suppliers": [{"supplier": "tw_fab", "country": "TW", "lat": 24.9, "lon": 121.4},
                      {"supplier": "mx_fab", "country": "MX", "lat": 20.5, "lon": -103.2}],
        "offers": [
            {"offer": "chip_tw", "supplier": "tw_fab", "component": "chip", "unit_price": 10},
            {"offer": "chip_mx", "supplier": "mx_fab", "component": "chip", "unit_price": 11},
        ],
        "customers": [
            {"customer": "phoenix", "country": "US", "lat": 33.4, "lon": -112.0},
            {"customer": "chicago", "country": "US", "lat": 41.9, "lon": -87.6},
        ],
        "demand": [{"customer": c, "product": "rack", "period": t, "quantity": 60}
                   for c in ("phoenix", "chicago") for t in ("P1", "P2")],
        "lanes": lanes(("tw_fab", "houston", 1), ("tw_fab", "juarez", 1),
                       ("mx_fab", "houston", 1), ("mx_fab", "juarez", 0),
                       ("houston", "phoenix", 2), ("houston", "chicago", 2),
                       ("juarez", "phoenix", 1), ("juarez", "chicago", 3)),
        "scenarios": [{"scenario": "calm", "probability": 0.6},
                      {"scenario": "war", "probability": 0.4}],
        "tariffs": [{"scenario": "war", "origin_country": "TW", "destination_country": "*",
                     "rate": 0.5},
                    {"scenario": "*", "origin_country": "MX", "destination_country": "US",
                     "rate": 0.05}],
    }


@pytest.fixture
def report(tmp_path: Path) -> Path:
    network = parse_network(located_network())
    plan = solve_checked(network)
    folder = plan.write(tmp_path / "plan")
    write_json(network, folder / "input.json")
    return write_report(folder)


def test_the_report_loads_nothing_from_the_network(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert resource_loads(page) == []
    bundle = get_plotlyjs()
    assert bundle in page  # plotly.js is embedded, once
    ours = page.replace(bundle, "")
    assert "http://" not in ours and "https://" not in ours
    assert "topojsonURL" not in ours


def _network_off() -> list[str]:
    """`unshare --net` when this user may create a network namespace (no interface at all)."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True,
                                  check=False).returncode == 0:
        return [unshare, "--net"]
    return []


def _chromium(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [*_network_off(), CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
               "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
               *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("RESHORE_REQUIRE_SERVICES"),
                    reason="chromium is not installed (.ci/run installs it)")
def test_the_report_draws_in_headless_chromium_offline(report: Path, tmp_path: Path) -> None:
    url = report.resolve().as_uri()
    dumped = _chromium(tmp_path, "--dump-dom", url)
    dom = dumped.stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dumped.stderr[-2000:]
    attributes = dict(re.findall(r'(data-[a-z]+)="([^"]*)"', body.group(1)))
    assert attributes["data-plots"] == "5"
    assert attributes["data-errors"] == ""
    assert attributes["data-resources"] == ""
    console_errors = [line for line in dumped.stderr.splitlines()
                      if ":CONSOLE" in line and "file://" in line]
    assert console_errors == []

    plots = dom.split('class="plot-container plotly"')[1:]
    assert len(plots) == 5
    the_map = plots[0]
    outlines = re.findall(r'<path class="js-fill"[^>]*d="([^"]*)"', the_map)
    assert len(outlines) == 2  # neighbours and states, filled
    assert max(d.count("M") for d in outlines) >= 49  # a ring per state at least
    markers = re.findall(r'<path class="point"', the_map)
    assert len(markers) >= 2 + 2 + 2  # sites, customers, supplier countries
    cost, tariffs, utilisation, unmet = plots[1:]
    assert len(re.findall(r'<g class="point"', cost)) >= 2  # a bar per scenario at least
    assert len(re.findall(r'<g class="point"', tariffs)) >= 2
    assert re.search(r'<path class="js-line"', utilisation)
    assert "all demand is served" in unmet

    shot = tmp_path / "report.png"
    _chromium(tmp_path, "--window-size=1400,3400", f"--screenshot={shot}", url)
    assert shot.exists() and shot.stat().st_size > 20_000
