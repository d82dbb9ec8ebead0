"""Replans and what the history committed, on tiny instances worked out by hand: a site the
previous plan opened closes only where closing it pays its closing cost, and a supplier
outage of an offer bought from in the history is stated from `now` on (offer_capacities),
so that the history stays as it was."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from reshore.optimizer.check import check
from reshore.optimizer.diff import PlanTables
from reshore.optimizer.replan import Replan, ReplanOptions, replan
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.schema import parse_network
from tests.conftest import EXACT, solve_checked

PERIODS = ["P1", "P2", "P3", "P4"]


def checked_replan(instance: dict[str, Any], previous: PlanTables, now: str) -> Replan:
    network = parse_network(instance)
    result = replan(network, previous, ReplanOptions(now=now), EXACT)
    assert result.plan.status is PlanStatus.OPTIMAL
    report = check(network, result.plan)
    assert report.ok, str(report)
    return result


def quantities(result: Replan, table: str, key: str) -> dict[tuple[str, str], float]:
    frame = result.plan.tables[table]
    frame = frame[frame.quantity > 1e-9]
    return {(str(k), str(t)): float(q) for k, t, q in
            frame[[key, "period", "quantity"]].itertuples(index=False, name=None)}


# --- a site opened in the history closes where closing pays ---------------------------------


def opened_site(demand: tuple[float, ...], closing_cost: float) -> dict[str, Any]:
    """Existing site S (10 a rack, 200 h, closing cost 1,000, no fixed cost) and candidate N
    (1 a rack, closing cost `closing_cost`) at tier small (50 h, opening 100, fixed 40 a
    period) or large (150 h, opening 300, fixed 60 a period); customer C wants `demand` in
    P1..P4; racks are held at 1 a period, lanes cost nothing.

    At 50 a period N small carries it all: 100 + 4 x 40 + 200 x 1 = 460 (N large 740, S alone
    2,000)."""
    return {
        "settings": {"periods": PERIODS},
        "sites": [{"site": "S", "country": "US", "status": "existing", "closing_cost": 1000},
                  {"site": "N", "country": "US", "closing_cost": closing_cost}],
        "site_tiers": [{"site": "S", "tier": "line", "capacity_hours": 200},
                       {"site": "N", "tier": "small", "capacity_hours": 50,
                        "opening_cost": 100, "fixed_cost_per_period": 40},
                       {"site": "N", "tier": "large", "capacity_hours": 150,
                        "opening_cost": 300, "fixed_cost_per_period": 60}],
        "products": [{"product": "rack", "assembly_hours": 1, "holding_cost_per_period": 1}],
        "production_costs": [{"site": "S", "product": "rack", "cost_per_unit": 10},
                             {"site": "N", "product": "rack", "cost_per_unit": 1}],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "rack", "period": p, "quantity": q}
                   for p, q in zip(PERIODS, demand, strict=True)],
        "lanes": [{"origin": "S", "destination": "C", "cost_per_unit": 0},
                  {"origin": "N", "destination": "C", "cost_per_unit": 0}],
    }


@pytest.mark.parametrize(("closing_cost", "closes", "cost"), [
    (30.0, True, 310.0), (120.0, False, 360.0)])
def test_a_site_opened_in_the_history_closes_only_where_closing_pays(
        closing_cost: float, closes: bool, cost: float) -> None:
    """The previous plan opens N small in P1 (460). Demand then vanishes from P3 on; now P3.
    P1 and P2 are history: N makes and ships 50 in each. Kept open, N costs 100 + 4 x 40 +
    2 x 50 = 360; closed from P3 it saves 2 x 40 = 80 of fixed cost and pays its closing cost
    c: 100 + 2 x 40 + 100 + c = 280 + c (closing in P4 saves only 40). So it closes at c = 30
    (310) and stays open at c = 120 (360). Its tier is the one it opened at."""
    previous = solve_checked(opened_site((50, 50, 50, 50), closing_cost))
    assert previous.objective == pytest.approx(460)
    result = checked_replan(opened_site((50, 50, 0, 0), closing_cost), PlanTables.of(previous),
                            now="P3")
    assert result.plan.objective == pytest.approx(cost)
    row = result.plan.tables["sites"].set_index("site").loc["N"]
    assert (row.tier, row.open_period) == ("small", "P1")
    if closes:
        assert (row.status, row.close_period) == ("closed", "P3")
        assert result.diff.tables["sites"].changed == 1
    else:
        assert row.status == "open"
        assert result.diff.tables["sites"].unchanged
    assert quantities(result, "production", "site") == pytest.approx(
        {("N", "P1"): 50, ("N", "P2"): 50})
    assert result.forced_changes == []


def test_a_site_under_construction_is_given_up_where_that_pays() -> None:
    """N takes two periods to build (it can operate from P3). At 50 a period the previous
    plan makes P1 and P2 at S (1,000) and opens N small in P3 (100 + 2 x 40 + 100 = 280):
    1,280. Demand then vanishes from P3 on; now P2, so N's construction has started and its
    opening stays (its opening cost is spent). Finishing it costs 2 x 40 of fixed cost,
    giving it up the closing cost 30: N closes in P3, the period it opens, and never
    operates: 500 + 500 + 100 + 30 = 1,130 (kept: 1,180)."""
    def instance(demand: tuple[float, ...]) -> dict[str, Any]:
        built = opened_site(demand, 30.0)
        built["sites"][1]["build_periods"] = 2
        return built

    previous = solve_checked(instance((50, 50, 50, 50)))
    assert previous.objective == pytest.approx(1280)
    result = checked_replan(instance((50, 50, 0, 0)), PlanTables.of(previous), now="P2")
    row = result.plan.tables["sites"].set_index("site").loc["N"]
    assert (row.status, row.tier, row.open_period, row.close_period) == (
        "closed", "small", "P3", "P3")
    assert result.plan.objective == pytest.approx(1130)
    assert quantities(result, "production", "site") == pytest.approx(
        {("S", "P1"): 50, ("S", "P2"): 50})


def test_a_site_closed_by_a_replan_stays_closed_in_the_next_replan() -> None:
    """The plan of the replan above (N closed from P3) is the previous plan of the next
    replan, at now P4, on the same data: N stays opened in P1 and closed from P3, at the same
    cost, 310."""
    previous = solve_checked(opened_site((50, 50, 50, 50), 30.0))
    first = checked_replan(opened_site((50, 50, 0, 0), 30.0), PlanTables.of(previous), "P3")
    second = checked_replan(opened_site((50, 50, 0, 0), 30.0), PlanTables.of(first.plan), "P4")
    row = second.plan.tables["sites"].set_index("site").loc["N"]
    assert (row.status, row.open_period, row.close_period) == ("closed", "P1", "P3")
    assert second.plan.objective == pytest.approx(310)
    assert second.diff.unchanged


def test_a_plain_solve_never_closes_a_candidate_site() -> None:
    """Without a previous plan nothing is committed: demand (50, 50, 0, 0) from scratch
    opens N small in P1 and keeps it (100 + 4 x 40 + 100 = 360; closing at 30 is not a
    choice of a plain solve)."""
    plan = solve_checked(opened_site((50, 50, 0, 0), 30.0))
    assert plan.objective == pytest.approx(360)
    assert plan.tables["sites"].set_index("site").status["N"] == "open"


def test_the_checker_prices_and_bounds_a_closed_candidate_site() -> None:
    """A closed candidate operates from its open period to its close period, at its tier,
    and pays opening and closing costs; production after the close is a violation."""
    network = parse_network(opened_site((50, 50, 0, 0), 30.0))
    previous = solve_checked(opened_site((50, 50, 50, 50), 30.0))
    plan = replan(network, PlanTables.of(previous), ReplanOptions(now="P3"), EXACT).plan
    assert check(network, plan).ok
    sites = plan.tables["sites"].copy()
    sites.loc[sites.site == "N", "close_period"] = "P2"
    report = check(network, replace(plan, tables={**plan.tables, "sites": sites}))
    assert any(v.rule == "site_operating" for v in report.violations), str(report)


# --- a supplier outage from `now` on -----------------------------------------------------------


def sourced(offer_capacities: list[dict[str, Any]] | None = None,
            capacity_a: float | None = None) -> dict[str, Any]:
    """Existing site S makes racks at 10 (100 h, 1 h a rack) for customer C, 50 a period over
    P1..P4; each rack takes one chip, held at 1 a period (bought just in time). Offer oA
    (supplier A) sells chips at 1, offer oB (supplier B) at 3; both unlimited unless
    `capacity_a` or `offer_capacities` say otherwise.

    The plan buys every chip from oA: 4 x 50 x (10 + 1) = 2,200."""
    instance: dict[str, Any] = {
        "settings": {"periods": PERIODS},
        "sites": [{"site": "S", "country": "US", "status": "existing"}],
        "site_tiers": [{"site": "S", "tier": "line", "capacity_hours": 100}],
        "products": [{"product": "rack", "assembly_hours": 1, "holding_cost_per_period": 1}],
        "components": [{"component": "chip", "holding_cost_per_period": 1}],
        "bom": [{"product": "rack", "component": "chip", "quantity": 1}],
        "production_costs": [{"site": "S", "product": "rack", "cost_per_unit": 10}],
        "suppliers": [{"supplier": "A", "country": "US"}, {"supplier": "B", "country": "US"}],
        "offers": [{"offer": "oA", "supplier": "A", "component": "chip", "unit_price": 1,
                    "capacity_per_period": capacity_a},
                   {"offer": "oB", "supplier": "B", "component": "chip", "unit_price": 3}],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "rack", "period": p, "quantity": 50}
                   for p in PERIODS],
        "lanes": [{"origin": "A", "destination": "S"}, {"origin": "B", "destination": "S"},
                  {"origin": "S", "destination": "C"}],
    }
    if offer_capacities is not None:
        instance["offer_capacities"] = offer_capacities
    return instance


def test_an_outage_from_now_of_an_offer_bought_from_in_the_history_keeps_the_history(
        ) -> None:
    """oA delivers nothing from P3 on; now P3. P1 and P2 keep their 50 chips from oA; P3 and
    P4 buy theirs from oB: 2,000 + 2 x 50 x 1 + 2 x 50 x 3 = 2,400."""
    previous = solve_checked(sourced())
    assert previous.objective == pytest.approx(2200)
    outage = sourced([{"offer": "oA", "from_period": "P3", "capacity_per_period": 0}])
    result = checked_replan(outage, PlanTables.of(previous), now="P3")
    assert quantities(result, "sourcing", "offer") == pytest.approx(
        {("oA", "P1"): 50, ("oA", "P2"): 50, ("oB", "P3"): 50, ("oB", "P4"): 50})
    assert result.plan.objective == pytest.approx(2400)
    assert result.forced_changes == []
    sourcing = result.diff.tables["sourcing"]
    assert (sourcing.added, sourcing.removed, sourcing.changed) == (2, 2, 0)


def test_the_same_outage_on_the_offer_itself_contradicts_the_history() -> None:
    """Stated on the offer (capacity_per_period 0 in every period), the outage forbids the
    history's purchases from oA: the replan has no plan and says why."""
    previous = solve_checked(sourced())
    network = parse_network(sourced(capacity_a=0))
    result = replan(network, PlanTables.of(previous), ReplanOptions(now="P3"), EXACT)
    assert result.plan.status is PlanStatus.INFEASIBLE
    assert any("before period 'P3'" in line for line in result.plan.diagnosis)
