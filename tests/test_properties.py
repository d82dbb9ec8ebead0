"""Property tests on generated small instances (Hypothesis)."""

from __future__ import annotations

import copy
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reshore.optimizer.io import load_network, write_csv_folder, write_json, write_xlsx
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.schema import parse_network
from tests.conftest import solve_checked

COUNTRIES = ["US", "MX", "TW"]
RUNS = settings(max_examples=12, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def networks(draw: st.DrawFn) -> dict[str, Any]:
    """Small but complete instances: sites with tiers, a BOM, offers from several countries,
    tariff scenarios, several periods; unmet demand is priced, so every instance is feasible."""
    periods = [f"P{i}" for i in range(1, draw(st.integers(1, 3)) + 1)]
    n_sites = draw(st.integers(1, 3))
    sites, tiers = [], []
    for k in range(n_sites):
        existing = k == 0 and draw(st.booleans())
        sites.append({"site": f"S{k}", "country": draw(st.sampled_from(COUNTRIES)),
                      "status": "existing" if existing else "candidate",
                      "build_periods": 0 if existing else draw(st.integers(0, 1)),
                      "closing_cost": draw(st.integers(0, 50)),
                      "labour_cost_per_hour": draw(st.integers(0, 5))})
        for tier in range(1 if existing else draw(st.integers(1, 2))):
            tiers.append({"site": f"S{k}", "tier": f"T{tier}",
                          "capacity_hours": draw(st.integers(10, 80)),
                          "opening_cost": draw(st.integers(0, 200)),
                          "fixed_cost_per_period": draw(st.integers(0, 20))})
    products = [{"product": f"p{i}", "assembly_hours": draw(st.integers(1, 3)),
                 "unit_value": draw(st.integers(1, 50)), "tariff_class": "goods",
                 "holding_cost_per_period": draw(st.integers(0, 2))}
                for i in range(draw(st.integers(1, 2)))]
    components = [{"component": "c0", "tariff_class": "parts", "holding_cost_per_period": 1}]
    bom = [{"product": p["product"], "component": "c0", "quantity": draw(st.integers(1, 3))}
           for p in products]
    suppliers = [{"supplier": f"sup_{c}", "country": c} for c in COUNTRIES]
    offers = [{"offer": f"o_{c}", "supplier": f"sup_{c}", "component": "c0",
               "unit_price": draw(st.integers(1, 20)),
               "capacity_per_period": draw(st.one_of(st.none(), st.integers(20, 200))),
               "lead_periods": draw(st.integers(0, 1)),
               "qualification_cost": draw(st.sampled_from([0, 0, 30]))} for c in COUNTRIES]
    customers = [{"customer": f"C{j}", "country": draw(st.sampled_from(COUNTRIES))}
                 for j in range(draw(st.integers(1, 2)))]
    demand = [{"customer": c["customer"], "product": p["product"], "period": t,
               "quantity": draw(st.integers(0, 30))}
              for c in customers for p in products for t in periods]
    lanes = [{"origin": s["supplier"], "destination": k["site"],
              "cost_per_unit": draw(st.integers(0, 3))} for s in suppliers for k in sites]
    lanes += [{"origin": k["site"], "destination": c["customer"],
               "cost_per_unit": draw(st.integers(0, 5)),
               "transit_periods": draw(st.integers(0, 1))} for k in sites for c in customers]
    n_scenarios = draw(st.integers(1, 2))
    scenarios = [{"scenario": f"s{i}", "probability": 1 / n_scenarios}
                 for i in range(n_scenarios)]
    tariffs = [{"scenario": draw(st.sampled_from(["*"] + [s["scenario"] for s in scenarios])),
                "origin_country": o, "destination_country": d,
                "tariff_class": draw(st.sampled_from(["*", "parts", "goods"])),
                "from_period": draw(st.sampled_from(periods)),
                "rate": draw(st.sampled_from([0.1, 0.25, 0.5]))}
               for o in COUNTRIES for d in COUNTRIES if o != d and draw(st.booleans())]
    measure = draw(st.sampled_from(["expected", "cvar", "worst_case"]))
    return {
        "settings": {"periods": periods, "unmet_penalty": draw(st.integers(50, 200)),
                     "commit_periods": draw(st.integers(0, len(periods))),
                     "discount_rate": draw(st.sampled_from([0.0, 0.05])),
                     "risk": {"measure": measure, "alpha": 0.8,
                              "weight": draw(st.sampled_from([0.0, 0.5, 1.0]))}},
        "sites": sites, "site_tiers": tiers, "products": products, "components": components,
        "bom": bom, "suppliers": suppliers, "offers": offers, "customers": customers,
        "demand": demand, "lanes": lanes, "scenarios": scenarios, "tariffs": tariffs,
    }


@RUNS
@given(networks())
def test_every_solved_plan_passes_the_checker(raw: dict[str, Any]) -> None:
    plan = solve_checked(raw)
    assert plan.status is PlanStatus.OPTIMAL


@RUNS
@given(networks(), st.data())
def test_raising_a_tariff_never_lowers_the_optimal_cost(raw: dict[str, Any],
                                                       data: st.DataObject) -> None:
    base = solve_checked(raw)
    raised = copy.deepcopy(raw)
    if raised["tariffs"]:
        i = data.draw(st.integers(0, len(raised["tariffs"]) - 1))
        raised["tariffs"][i]["rate"] += data.draw(st.sampled_from([0.05, 0.5]))
    else:
        raised["tariffs"].append({"origin_country": "TW", "destination_country": "US",
                                  "rate": 0.3})
    higher = solve_checked(raised)
    assert base.objective is not None and higher.objective is not None
    assert higher.objective >= base.objective - 1e-6 * max(1.0, abs(base.objective))


@RUNS
@given(networks())
def test_weight_zero_gives_the_expected_cost_optimum(raw: dict[str, Any]) -> None:
    expected = copy.deepcopy(raw)
    expected["settings"]["risk"] = {"measure": "expected"}
    neutral = copy.deepcopy(raw)
    neutral["settings"]["risk"] = {"measure": raw["settings"]["risk"]["measure"], "weight": 0}
    a, b = solve_checked(expected), solve_checked(neutral)
    assert a.objective == pytest.approx(b.objective, rel=1e-6, abs=1e-6)
    assert b.expected_cost() == pytest.approx(a.objective, rel=1e-6, abs=1e-6)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_json_csv_and_xlsx_copies_give_the_same_plan(raw: dict[str, Any]) -> None:
    network = parse_network(raw)
    with TemporaryDirectory() as folder:
        root = Path(folder)
        copies = [load_network(write_json(network, root / "i.json")),
                  load_network(write_csv_folder(network, root / "csv")),
                  load_network(write_xlsx(network, root / "i.xlsx"))]
        plans = [solve_checked(copy_) for copy_ in copies]
    objectives = [p.objective for p in plans]
    assert objectives == pytest.approx([objectives[0]] * 3, rel=1e-9)
    assert plans[0].input_hash == plans[1].input_hash == plans[2].input_hash
    sites = [p.tables["sites"].to_dict("records") for p in plans]
    assert sites[0] == sites[1] == sites[2]
