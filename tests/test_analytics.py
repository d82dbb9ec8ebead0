"""Tariff-risk analytics on tiny instances worked out by hand (arithmetic in tests/instances.py
and below)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from reshore.optimizer.analytics import (
    break_even_rate,
    expected_value_network,
    forbid_site,
    frontier,
    site_values,
    stochastic_value,
    with_extra_tariff,
)
from reshore.optimizer.decisions import FirstStage, SiteDecision, first_stage_of
from reshore.optimizer.schema import parse_network
from reshore.optimizer.whatif import SolveLimits
from tests.conftest import EXACT, solve_checked
from tests.instances import capacity_gamble, risk_choice, two_site_transport

LIMITS = SolveLimits(mip_gap=1e-9, threads=1, random_seed=0)


def test_rp_ws_ev_eev_evpi_vss_match_the_hand_computation() -> None:
    """capacity_gamble: rp 180, ws 54, ev 100, eev 250, evpi 126, vss 70."""
    value = stochastic_value(parse_network(capacity_gamble()), jobs=1, limits=LIMITS)
    assert value.rp == pytest.approx(180)
    assert value.ws_by_scenario == pytest.approx({"calm": 0, "boom": 180})
    assert value.ws == pytest.approx(54)
    assert value.ev == pytest.approx(100)
    assert value.eev == pytest.approx(250)
    assert value.evpi == pytest.approx(126)
    assert value.vss == pytest.approx(70)
    assert value.vss > 0
    assert value.ev_decisions == "S opens small in P1"
    assert value.rp_decisions == "S opens large in P1"


def test_the_expected_value_instance_weights_demand_and_tariffs() -> None:
    """risk_choice: the erosion tariff (25 %, p 0.2) becomes 5 % in the one scenario."""
    ev = expected_value_network(parse_network(risk_choice("expected")))
    assert [s.scenario for s in ev.scenarios] == ["expected_value"]
    assert [t.rate for t in ev.tariffs] == pytest.approx([0.05])
    gamble = expected_value_network(parse_network(capacity_gamble()))
    assert [d.quantity for d in gamble.demand] == pytest.approx([30])


def test_the_frontier_is_monotone_and_marks_dominated_points() -> None:
    """risk_choice: Mexico has E 150 and CVaR 350, the US 200 and 200. With weight lambda,
    Mexico costs 150 + 200 lambda: it wins below lambda = 0.25, the US above."""
    points = frontier(parse_network(risk_choice("cvar")), jobs=1, limits=LIMITS)
    assert len(points) >= 6
    assert all(p.status == "optimal" for p in points)
    expected = [float(p.expected_cost or 0) for p in points]
    cvar = [float(p.cvar or 0) for p in points]
    assert all(a <= b + 1e-6 for a, b in itertools.pairwise(expected))
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(cvar))
    assert (points[0].expected_cost, points[0].cvar) == pytest.approx((150, 350))
    assert (points[-1].expected_cost, points[-1].cvar) == pytest.approx((200, 200))
    assert points[0].decisions == "mx_site opens std in P1"
    assert not any(p.dominated for p in points)


def test_a_break_even_rate_flips_the_decision_just_above_and_below() -> None:
    """risk_choice on expected cost with an extra tariff r on Mexican goods: Mexico costs
    150 + 100 x 10 x r, the US 200: break-even at r = 0.05."""
    network = parse_network(risk_choice("expected"))
    found = break_even_rate(network, "MX", tolerance=1e-3, limits=LIMITS)
    assert found.rate == pytest.approx(0.05, abs=1e-3)
    assert found.above - found.below <= 1e-3
    assert found.decisions_below == "mx_site opens std in P1"
    assert found.decisions_above == "us_site opens std in P1"
    below = solve_checked(with_extra_tariff(network, "MX", found.below))
    above = solve_checked(with_extra_tariff(network, "MX", found.above))
    assert first_stage_of(below).sites["mx_site"].status == "open"
    assert first_stage_of(above).sites["us_site"].status == "open"


def test_site_values_equal_the_difference_of_two_solves() -> None:
    """two_site_transport: base 290 (A only). Without A: B alone 330 (+40); without B: 290
    (0). B forced open: both 320 (decrease -30); A forced open: 290 (0)."""
    network = parse_network(two_site_transport())
    values = {v.site: v for v in site_values(network, jobs=1, limits=LIMITS)}
    assert values["A"].increase_if_forbidden == pytest.approx(40)
    assert values["B"].increase_if_forbidden == pytest.approx(0)
    assert values["B"].decrease_if_forced_open == pytest.approx(-30)
    assert values["A"].decrease_if_forced_open == pytest.approx(0)
    base = solve_checked(network).objective
    without_a = solve_checked(forbid_site(network, "A")).objective
    forced_b = solve_checked(network, replace(
        EXACT, first_stage=FirstStage(sites={"B": SiteDecision("open")}))).objective
    assert base is not None and without_a is not None and forced_b is not None
    assert values["A"].increase_if_forbidden == pytest.approx(without_a - base)
    assert values["B"].decrease_if_forced_open == pytest.approx(base - forced_b)
