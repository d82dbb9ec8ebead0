"""Money scaling and the coefficient ranges HiGHS sees: money figures at the edges of their
ranges give plans whose objective the independent checker recomputes, and the reported ranges
are the ones worked out by hand."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reshore.optimizer.check import check
from reshore.optimizer.prepare import money_unit
from reshore.optimizer.results import CoefficientRanges, Plan
from reshore.optimizer.schema import MONEY_MAX, QUANTITY_MAX, RATE_MAX, parse_network
from reshore.optimizer.solve import SolveOptions, solve
from tests.conftest import solve_checked
from tests.instances import bom_with_lead_time, risk_choice, tier_choice, two_site_transport

AGREEMENT = 1e-9
"""Relative difference allowed between a plan's objective and the checker's."""


def agreed(instance: dict[str, Any]) -> Plan:
    """Solve, check, and assert the stated objective is the checker's within AGREEMENT."""
    network = parse_network(instance)
    plan = solve_checked(network)
    recomputed = check(network, plan).objective
    assert plan.objective is not None and recomputed is not None
    assert abs(plan.objective - recomputed) <= AGREEMENT * abs(recomputed)
    return plan


@pytest.mark.parametrize(("figures", "unit"), [
    ([150.0, 1.0, 50.0], 1.0),                # the largest in the thousands at unit 1
    ([7.61e8, 0.0522], 1e5),                  # the flagship: largest in the thousands
    ([1e12, 1.0], 1e6),                       # thousands rule would give 1e-9: middle
    ([1e12, 0.01, 0.0], 1e5),                 # zeros do not count
    ([1e-8, 1e-9], 1e-8),                     # tiny money is scaled up (middle of 1e-8.5)
    ([1e12, 1e-300], 1e4),                    # beyond double precision: 1e12 x 1e-16 counts
    ([], 1.0),
])
def test_money_unit_keeps_largest_in_thousands_unless_smallest_falls_below_1e_7(
        figures: list[float], unit: float) -> None:
    assert money_unit(np.asarray(figures, dtype=float)) == pytest.approx(unit)


def test_ranges_reported_before_and_after_scaling_are_the_hand_worked_ones() -> None:
    """two_site_transport with B's opening at 1e12: money figures 50, 1e12 and lane costs
    1..3, so the unit is 1e6 (1e9 would bring the lane cost 1 to 1e-9). In currency the matrix
    runs from 1 (balance rows, hours of 1 a unit, lane cost 1) to 1e12 (B's opening in the cost
    row); handed, from 1e-6 (lane cost 1 / 1e6) to 1e6 (1e12 / 1e6). The objective is the one
    scenario's cost at probability 1; the only finite nonzero bounds are the binaries' 1; the
    row bounds are 1 (one start per site), 60 (each customer's demand) and 120 (capacity
    covers all demand). B never opens: A alone, 50 + 60 + 180 = 290."""
    plan = agreed(two_site_transport(opening_b=1e12))
    assert plan.objective == pytest.approx(290.0, abs=1e-6)
    scaling = plan.scaling
    assert scaling is not None
    assert scaling.money_unit == 1e6
    assert scaling.in_currency == CoefficientRanges(matrix=(1.0, 1e12), cost=(1.0, 1.0),
                                                    bound=(1.0, 1.0), rhs=(1.0, 120.0))
    assert scaling.handed == CoefficientRanges(matrix=(1e-6, 1e6), cost=(1.0, 1.0),
                                               bound=(1.0, 1.0), rhs=(1.0, 120.0))
    assert scaling.warnings == [] and plan.warnings == []
    summary = json.loads(json.dumps(plan.to_json()["summary"]))
    assert summary["scaling"]["handed"]["matrix"] == [1e-6, 1e6]
    assert summary["scaling"]["in_currency"]["matrix"] == [1.0, 1e12]


def test_ranges_are_on_the_progress_lines() -> None:
    lines: list[str] = []
    agreed_plan = solve(parse_network(two_site_transport(opening_b=1e12)),
                        SolveOptions(threads=1, random_seed=0, progress=lines.append))
    assert agreed_plan.objective == pytest.approx(290.0, abs=1e-6)
    assert ("coefficients HiGHS sees (money in units of 1e+06): matrix [1e-06, 1e+06],"
            " cost [1, 1], bounds [1, 1], rhs [1, 120]; in currency: matrix [1, 1e+12]"
            in "\n".join(lines))


def opening_a(cost: float) -> dict[str, Any]:
    instance = two_site_transport()
    instance["site_tiers"][0]["opening_cost"] = cost
    return instance


def both_at_the_edge() -> dict[str, Any]:
    """A and B open at MONEY_MAX each with QUANTITY_MAX hours; X wants QUANTITY_MAX racks, Y
    60: neither site holds all, both open; A serves X (1 a unit), B serves Y (1 a unit):
    2e12 + 1e9 + 60."""
    instance = two_site_transport(capacity=QUANTITY_MAX)
    for tier in instance["site_tiers"]:
        tier["opening_cost"] = MONEY_MAX
    instance["demand"][0]["quantity"] = QUANTITY_MAX
    return instance


def cent_lanes() -> dict[str, Any]:
    """Lane costs of 1 to 3 cents beside an opening of 1e12: A alone, 50 + 0.6 + 1.8."""
    instance = two_site_transport(opening_b=MONEY_MAX)
    for lane in instance["lanes"]:
        lane["cost_per_unit"] /= 100
    return instance


def penalty_at_the_edge() -> dict[str, Any]:
    """tier_choice with 120 units wanted and unmet units at MONEY_MAX: large tier, 180."""
    instance = tier_choice(120)
    instance["settings"]["unmet_penalty"] = MONEY_MAX
    return instance


def tariff_at_the_edge() -> dict[str, Any]:
    """risk_choice (expected cost) with racks worth 1e11 and a tariff of RATE_MAX (1e12 a
    rack) in `erosion`: Mexico's expected cost is 100 + 0.2 x 100 x 1e12; the US site, 200."""
    instance = risk_choice("expected", 0.0)
    instance["products"][0]["unit_value"] = MONEY_MAX / RATE_MAX
    instance["tariffs"][0]["rate"] = RATE_MAX
    return instance


def cheap_unmet_at_the_edge() -> dict[str, Any]:
    """tier_choice with QUANTITY_MAX units wanted and unmet units at 1e-6: open nothing,
    1e9 x 1e-6 = 1,000 (small: 100 + (1e9 - 50) x 1e-6 = 1,100; large: 1,180)."""
    instance = tier_choice(QUANTITY_MAX)
    instance["settings"]["unmet_penalty"] = 1e-6
    return instance


def trays_at_the_edge() -> dict[str, Any]:
    """bom_with_lead_time with QUANTITY_MAX trays a rack: trays for 3 racks cost 1.2e11 in P1
    and 5e10 for 10 racks in P2, so every rack goes unmet at 100: 1,300."""
    instance = bom_with_lead_time()
    instance["bom"][0]["quantity"] = QUANTITY_MAX
    return instance


@pytest.mark.parametrize(("instance", "optimum"), [
    (two_site_transport(opening_b=MONEY_MAX), 290.0),
    (opening_a(MONEY_MAX), 330.0),                    # B alone: 150 + 120 + 60
    (both_at_the_edge(), 2 * MONEY_MAX + QUANTITY_MAX + 60),
    (cent_lanes(), 52.4),
    (penalty_at_the_edge(), 180.0),
    (tariff_at_the_edge(), 200.0),
    (cheap_unmet_at_the_edge(), 1000.0),
    (trays_at_the_edge(), 1300.0),
], ids=["opening_b", "opening_a", "capacity_and_quantity", "cent_lanes", "penalty", "tariff",
        "demand_and_cheap_unmet", "bom_quantity"])
def test_money_and_quantities_at_the_edge_give_the_checked_optimum(
        instance: dict[str, Any], optimum: float) -> None:
    plan = agreed(instance)
    assert plan.objective == pytest.approx(optimum, rel=AGREEMENT, abs=1e-6)


def test_a_range_beyond_what_highs_handles_well_is_a_warning_with_its_figures() -> None:
    """Racks of 1e-8 hours against 200 hours of capacity: the capacity row holds 1e-8."""
    instance = two_site_transport()
    instance["products"][0]["assembly_hours"] = 1e-8
    plan = solve_checked(instance)
    expected = ("HiGHS sees constraint coefficients from 1.0e-08 to 2.0e+02, beyond the"
                " 1e-07 to 1e+09 it handles well")
    assert any(w.startswith(expected) for w in plan.warnings)
    assert plan.scaling is not None and plan.scaling.warnings == [
        w for w in plan.warnings if w.startswith("HiGHS sees")]
    assert plan.to_json()["summary"]["scaling"]["warnings"] == plan.scaling.warnings


MONEY_FIELDS = {
    "settings": ["unmet_penalty", "transport_cost_per_unit_km"],
    "sites": ["closing_cost", "labour_cost_per_hour"],
    "site_tiers": ["opening_cost", "fixed_cost_per_period"],
    "products": ["unit_value", "holding_cost_per_period"],
    "components": ["holding_cost_per_period"],
    "production_costs": ["cost_per_unit"],
    "offers": ["unit_price", "qualification_cost"],
    "lanes": ["cost_per_unit"],
}
"""Every money column of the contract (policies: capex budgets only, none here)."""


def money_times(instance: dict[str, Any], factor: float) -> dict[str, Any]:
    """The instance with every money figure multiplied by `factor`."""
    scaled = copy.deepcopy(instance)
    for table, fields in MONEY_FIELDS.items():
        rows = [scaled[table]] if table == "settings" else scaled.get(table, [])
        for row in rows:
            for name in fields:
                if row.get(name) is not None:
                    row[name] *= factor
    return scaled


def decisions(plan: Plan) -> tuple[Any, ...]:
    """Sites decided, and every flow rounded to a millionth of a unit."""
    sites = plan.tables["sites"].sort_values("site")[["site", "tier", "status"]]
    flows = []
    for table in ("shipments", "production", "unmet"):
        frame = plan.tables[table]
        frame = frame[frame.quantity.abs() > 1e-6]
        keys = [c for c in frame.columns if c in ("scenario", "period", "site", "customer",
                                                   "product")]
        flows.append(sorted(zip(*(frame[k] for k in keys), frame.quantity.round(6),
                                strict=True)))
    return (sites.to_records(index=False).tolist(), *flows)


BASES = {"two_site_transport": two_site_transport(), "tier_choice": tier_choice(120),
         "risk_choice": risk_choice("cvar", 0.5)}
"""Instances with one optimal plan; their largest money figure is 180, so any factor up to
MONEY_MAX / 180 keeps every figure in range (money has no lower limit but 0: factors down to
1e-12 turn lane costs of 1 into 1e-12, which the money unit brings back up)."""


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(sorted(BASES)),
       exponent=st.floats(min_value=-12.0, max_value=np.log10(MONEY_MAX / 180)))
def test_money_times_a_factor_multiplies_the_optimum_and_keeps_the_decisions(
        base: str, exponent: float) -> None:
    factor = 10.0 ** exponent
    original = agreed(BASES[base])
    scaled = agreed(money_times(BASES[base], factor))
    assert original.objective is not None and scaled.objective is not None
    assert scaled.objective == pytest.approx(original.objective * factor, rel=AGREEMENT)
    assert decisions(scaled) == decisions(original)


def test_a_replan_at_the_edge_keeps_the_plan_and_agrees_with_the_checker() -> None:
    """`rolling` (tests/test_replan.py) with closings at MONEY_MAX beside racks of 10: money
    in units of 1e6. The unchanged instance replans to the previous plan, 2,000, through the
    deviation terms and the MIP start of the replan."""
    from reshore.optimizer.diff import PlanTables
    from reshore.optimizer.replan import ReplanOptions, replan
    from tests.conftest import EXACT
    from tests.test_replan import rolling

    instance = rolling()
    for site in instance["sites"]:
        site["closing_cost"] = MONEY_MAX
    previous = agreed(instance)
    assert previous.objective == pytest.approx(2000.0, rel=AGREEMENT)
    network = parse_network(instance)
    result = replan(network, PlanTables.of(previous),
                    ReplanOptions(now="P2", freeze=1, change_penalty=1), EXACT)
    report = check(network, result.plan)
    assert report.ok, str(report)
    assert result.plan.scaling is not None and result.plan.scaling.money_unit == 1e6
    assert result.diff.unchanged
    assert result.plan.objective == pytest.approx(2000.0, rel=AGREEMENT)
    assert report.objective == pytest.approx(result.plan.objective, rel=AGREEMENT)


def test_the_diagnosis_at_the_edge_names_the_same_capacities() -> None:
    """two_site_transport with 50 hours a site and B's opening at MONEY_MAX (money in units of
    1e6): still 120 racks against 100 hours, and the elastic model still opens both sites and
    finds both full and 20 racks short, as at an opening of 150 (tests/test_diagnosis.py)."""
    instance = two_site_transport(opening_b=MONEY_MAX, capacity=50)
    plan = solve_checked(instance)
    assert plan.scaling is not None and plan.scaling.money_unit == 1e6
    assert plan.diagnosis[:2] == [
        "binding: assembly capacity of site 'A' is used in full in P1 (50 h)",
        "binding: assembly capacity of site 'B' is used in full in P1 (50 h)"]
    assert plan.diagnosis[2].startswith("short: product 'rack' in P1: 20 units short of 120")
