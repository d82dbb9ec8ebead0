"""Replans on a tiny rolling instance, worked out by hand.

`rolling` (see its docstring): two existing sites S and T serve one customer over P1..P4.
The previous plan makes and ships 50 racks at S in every period (cost 2,000)."""

from __future__ import annotations

from typing import Any

import pytest

from reshore.optimizer.check import check
from reshore.optimizer.diff import PlanTables, diff_plans, read_plan
from reshore.optimizer.replan import Replan, ReplanError, ReplanOptions, replan
from reshore.optimizer.results import PlanStatus
from reshore.optimizer.schema import Network, parse_network
from tests.conftest import EXACT, solve_checked

PERIODS = ["P1", "P2", "P3", "P4"]


def rolling(demand: tuple[float, ...] = (50, 50, 50, 50), cost_t: float = 12.0) -> dict[str, Any]:
    """Existing sites S (10 a rack) and T (`cost_t` a rack), 100 h each per period, closing
    cost 5 (so neither closes for nothing); one product of 1 h, held at 1 per period, so it
    is made just in time; customer C wants `demand` per period; lanes cost nothing.

    With T at 12 and 50 a period everything is made at S: 4 x 50 x 10 = 2,000."""
    return {
        "settings": {"periods": PERIODS},
        "sites": [{"site": "S", "country": "US", "status": "existing", "closing_cost": 5},
                  {"site": "T", "country": "US", "status": "existing", "closing_cost": 5}],
        "site_tiers": [{"site": "S", "tier": "line", "capacity_hours": 100},
                       {"site": "T", "tier": "line", "capacity_hours": 100}],
        "products": [{"product": "rack", "assembly_hours": 1, "holding_cost_per_period": 1}],
        "production_costs": [{"site": "S", "product": "rack", "cost_per_unit": 10},
                             {"site": "T", "product": "rack", "cost_per_unit": cost_t}],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "rack", "period": p, "quantity": q}
                   for p, q in zip(PERIODS, demand, strict=True)],
        "lanes": [{"origin": "S", "destination": "C", "cost_per_unit": 0},
                  {"origin": "T", "destination": "C", "cost_per_unit": 0}],
    }


def made(result: Replan) -> dict[tuple[str, str], float]:
    table = result.plan.tables["production"]
    return {(str(k), str(t)): float(q) for k, t, q in
            table[["site", "period", "quantity"]].itertuples(index=False, name=None)}


def checked_replan(instance: dict[str, Any], previous: PlanTables, **options: Any) -> Replan:
    network: Network = parse_network(instance)
    result = replan(network, previous, ReplanOptions(**options), EXACT)
    assert result.plan.status is PlanStatus.OPTIMAL
    report = check(network, result.plan)
    assert report.ok, str(report)
    return result


@pytest.fixture(scope="module")
def previous() -> PlanTables:
    plan = solve_checked(rolling())
    assert plan.objective == pytest.approx(2000)
    return PlanTables.of(plan)


def test_demand_change_keeps_history_and_frozen_window_and_reoptimises_the_rest(
        previous: PlanTables) -> None:
    """Demand in P3 rises to 150; now P2, one frozen period. P1 (history) and P2 (frozen)
    keep 50 at S; P3 needs 150 and S makes 100 at most: S 100 x 10 + T 50 x 12 = 1,600;
    P4 50 at S = 500. Cost 500 + 500 + 1,600 + 500 = 3,100. Production moves 100 units
    (S +50, T +50), shipments 100."""
    result = checked_replan(rolling((50, 50, 150, 50)), previous, now="P2", freeze=1)
    assert result.plan.objective == pytest.approx(3100)
    assert made(result) == pytest.approx({("S", "P1"): 50, ("S", "P2"): 50, ("S", "P3"): 100,
                                          ("T", "P3"): 50, ("S", "P4"): 50})
    production = result.diff.tables["production"]
    assert (production.added, production.removed, production.changed) == (1, 0, 1)
    assert production.units_moved == pytest.approx(100)
    assert production.cost_effect == pytest.approx(1100)
    assert result.diff.cost_effect == pytest.approx(1100)
    assert result.forced_changes == []
    assert result.history_periods == ["P1"] and result.frozen_periods == ["P2"]


@pytest.mark.parametrize(("penalty", "cost", "moved"), [
    (0.0, 1700, 600), (0.25, 1700, 600), (1.0, 2000, 0), (1e6, 2000, 0)])
def test_change_penalty_moves_only_where_the_change_pays(
        previous: PlanTables, penalty: float, cost: float, moved: float) -> None:
    """T now costs 8 a rack. From P2 on (no frozen period) every rack moving from S to T
    saves 2 and moves 4 units (production at S -1 and T +1, shipments likewise), so it pays
    when 4 x penalty < 2. Moving all of P2..P4: 150 racks, 600 units moved, cost
    500 + 3 x 50 x 8 = 1,700 (penalty 0.25 pays 150 beside it); otherwise nothing moves and
    the cost stays 2,000. Penalty 0 is the fresh solve with P1 fixed: 1,700."""
    result = checked_replan(rolling(cost_t=8), previous, now="P2", change_penalty=penalty)
    assert result.plan.objective == pytest.approx(cost)
    assert result.diff.units_moved == pytest.approx(moved)
    assert result.change_penalty_paid == pytest.approx(penalty * moved)
    assert made(result)[("S", "P1")] == pytest.approx(50)


def test_penalty_per_table() -> None:
    """T at 8, now P2; only production moves are priced. Shifting a rack from S to T moves
    2 units of production and saves 2: at 1.5 a unit that costs 3 and nothing moves; at 0.5
    it costs 1 and all 150 racks of P2..P4 move (300 units of production), cost 1,700."""
    previous = PlanTables.of(solve_checked(rolling()))
    kept = checked_replan(rolling(cost_t=8), previous, now="P2",
                          change_penalty={"production": 1.5})
    assert kept.diff.units_moved == pytest.approx(0)
    moved = checked_replan(rolling(cost_t=8), previous, now="P2",
                           change_penalty={"production": 0.5})
    assert moved.diff.tables["production"].units_moved == pytest.approx(300)
    assert moved.plan.objective == pytest.approx(1700)


def test_frozen_order_made_infeasible_is_changed_minimally_and_reported(
        previous: PlanTables) -> None:
    """Demand in the frozen P2 rises to 80 and must be met: the frozen 50 cannot stay. The
    smallest change is 30 more racks made and shipped (60 units moved, at S or at T alike);
    S is cheaper: cost 2,000 + 30 x 10 = 2,300. Both changes are reported."""
    result = checked_replan(rolling((50, 80, 50, 50)), previous, now="P2", freeze=1)
    assert result.plan.objective == pytest.approx(2300)
    assert made(result)[("S", "P2")] == pytest.approx(80)
    assert {(c.table, c.where, c.planned, c.replanned) for c in result.forced_changes} == {
        ("production", "frozen window", 50.0, 80.0), ("shipments", "frozen window", 50.0, 80.0)}


def test_history_is_fixed_even_where_a_change_would_pay(previous: PlanTables) -> None:
    """T at 8 from P3 on (now P3): P1 and P2 stay at S though T is cheaper; P3, P4 move:
    cost 2 x 500 + 2 x 400 = 1,800."""
    result = checked_replan(rolling(cost_t=8), previous, now="P3")
    assert result.plan.objective == pytest.approx(1800)
    assert made(result)[("S", "P1")] == made(result)[("S", "P2")] == pytest.approx(50)


def test_actuals_replace_the_previous_plan_in_history(previous: PlanTables,
                                                      tmp_path: Any) -> None:
    """Actually P1 made 60 at S and shipped 50 (10 in stock, held at 1), demand unchanged;
    now P2: P2 needs only 40 more made. Cost 600 + 10 holding + 400 + 500 + 500 = 2,010."""
    production = previous.tables["production"].copy()
    production.loc[production.period == "P1", ["quantity", "cost"]] = (60.0, 600.0)
    production.to_csv(tmp_path / "production.csv", index=False)
    network = parse_network(rolling())
    result = replan(network, previous, ReplanOptions(now="P2"), EXACT, actuals=tmp_path)
    assert check(network, result.plan).ok
    assert result.plan.objective == pytest.approx(2010)
    assert made(result)[("S", "P2")] == pytest.approx(40)


def test_unchanged_instance_replans_to_the_previous_plan_with_an_accepted_warm_start(
        previous: PlanTables, tmp_path: Any) -> None:
    result = checked_replan(rolling(), previous, now="P2", freeze=1, change_penalty=1)
    assert result.diff.unchanged and result.diff.units_moved == 0
    assert result.plan.objective == pytest.approx(2000)
    assert result.warm_start.startswith("accepted"), result.warm_start
    assert any("MIP start solution is feasible" in line for line in result.plan.log)
    result.write(tmp_path / "replan")
    assert diff_plans(previous, read_plan(tmp_path / "replan")).unchanged


def test_replan_without_warm_start_says_so(previous: PlanTables) -> None:
    result = checked_replan(rolling(), previous, now="P2", warm_start=False)
    assert result.warm_start == "not given"
    assert not any("MIP start" in line for line in result.plan.log)


def test_bad_options_are_clear_errors(previous: PlanTables) -> None:
    network = parse_network(rolling())
    with pytest.raises(ReplanError, match="now: period 'P9'"):
        replan(network, previous, ReplanOptions(now="P9"))
    with pytest.raises(ReplanError, match="no flow table stock"):
        replan(network, previous, ReplanOptions(now="P2", change_penalty={"stock": 1}))


def site_build(demand: tuple[float, ...]) -> dict[str, Any]:
    """Existing site S (10 a rack, 200 h, closing cost 1,000) and candidate N (1 a rack) at
    tier small (50 h, opening 100) or large (150 h, opening 300); customer C wants `demand`
    in P1..P3.

    At 50 a period: N small carries it all, 100 + 150 x 1 = 250 (large 450, S alone 1,500).
    """
    return {
        "settings": {"periods": PERIODS[:3]},
        "sites": [{"site": "S", "country": "US", "status": "existing", "closing_cost": 1000},
                  {"site": "N", "country": "US"}],
        "site_tiers": [{"site": "S", "tier": "line", "capacity_hours": 200},
                       {"site": "N", "tier": "small", "capacity_hours": 50,
                        "opening_cost": 100},
                       {"site": "N", "tier": "large", "capacity_hours": 150,
                        "opening_cost": 300}],
        "products": [{"product": "rack", "assembly_hours": 1, "holding_cost_per_period": 1}],
        "production_costs": [{"site": "S", "product": "rack", "cost_per_unit": 10},
                             {"site": "N", "product": "rack", "cost_per_unit": 1}],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "rack", "period": p, "quantity": q}
                   for p, q in zip(PERIODS, demand, strict=False)],
        "lanes": [{"origin": "S", "destination": "C", "cost_per_unit": 0},
                  {"origin": "N", "destination": "C", "cost_per_unit": 0}],
    }


def test_a_built_tier_is_kept_and_not_rebuilt() -> None:
    """The previous plan opens N small in P1 (cost 250). Demand rises to 150 in P2 and P3;
    from scratch N would open large (300 + 50 + 2 x 150 = 650), but N is built: it stays
    small and S makes the other 100 a period: 100 + 50 + 2 x (50 + 1,000) = 2,250."""
    previous = solve_checked(site_build((50, 50, 50)))
    assert previous.objective == pytest.approx(250)
    result = checked_replan(site_build((50, 150, 150)), PlanTables.of(previous), now="P2")
    sites = result.plan.tables["sites"].set_index("site")
    assert (sites.tier["N"], sites.open_period["N"]) == ("small", "P1")
    assert result.plan.objective == pytest.approx(2250)
    assert result.diff.tables["sites"].unchanged
    assert solve_checked(site_build((50, 150, 150))).objective == pytest.approx(650)
