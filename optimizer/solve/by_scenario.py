"""The LP relaxation, and the plans of the starts, one scenario at a time: a lower bound of
a model with several scenarios from one small LP per scenario, first-stage values for the
LP-guided starts, and the flows of a start whose first-stage decisions are all fixed
(`plan_by_scenario`).

Scenario s alone (`optimizer.variants.scenario_alone`: its own demand and tariffs, probability
1, expected cost) keeps every first-stage row and every row of scenario s, and drops the rows
that tie scenarios together (committed periods, the risk terms). Any plan of the whole model
restricted to scenario s is a plan of it, so its relaxation's optimum LB_s is at most that
plan's scenario cost. The objective, (1 - λ)·E[cost] + λ·R[cost] with R the CVaR or the worst
case, does not fall when a scenario's cost rises, so the same expression of the LB_s is a
lower bound of the whole model (`risk_objective`).

On synthetic M (seed 1) the three LPs took 1.3 to 1.4 s each against 10.9 s for the whole
model's, for a bound 0.05 % lower; on XL (seed 0) one scenario's LP took 184 s, where the
whole model's was unsolved at a 1,700 s limit.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import pandas as pd

from reshore.models import network_design
from reshore.models.built import BuiltModel
from reshore.optimizer import heuristics
from reshore.optimizer.prepare import prepare
from reshore.optimizer.schema import Network, RiskSettings
from reshore.optimizer.solve.handoff import LpArrays, to_highs_lp
from reshore.optimizer.solve.progress import Deadline
from reshore.optimizer.solve.spread import Answer, ScenarioBound, ScenarioHelpers
from reshore.optimizer.variants import (
    least_demand_alone,
    least_demand_scenario,
    scenario_alone,
)

FIRST_STAGE_FAMILIES = ("open", "close", "tier_operating", "site_operating", "qualify",
                        "supplier_qualified", "assign")
"""The variable families with one value for every scenario: the LP-guided starts round
these, from the probability-weighted mean of the scenarios' LP values."""

COMMITTED_FAMILIES = ("buy", "make", "ship")
"""The flows that are the same in every scenario in the committed periods."""

MONEY_FAMILIES = ("scenario_cost", "value_at_risk", "excess_cost", "worst_cost")
"""Variables counted in money units, which differ from one model to the other: left for
the whole model's restricted solve to work out."""


class SolveLp(Protocol):
    """Solves one scenario's LP relaxation (`heuristics.solve_relaxation` within the solve's
    time limit): its optimum and solution, or (-inf, None). `stop`, when given, replaces the
    solve's own cancel check (it should include it)."""

    def __call__(self, arrays: LpArrays, stop: Callable[[], bool] | None = None
                 ) -> tuple[float, np.ndarray | None]: ...


def risk_objective(costs: np.ndarray, probabilities: np.ndarray, risk: RiskSettings) -> float:
    """The model's objective for the given scenario costs: (1 - λ)·Σ p_s·cost_s + λ·R with R
    the CVaR at `risk.alpha` (min over η of η + Σ p_s·(cost_s - η)⁺ / (1 - alpha), reached at
    one of the costs) or the largest cost; λ = `risk.weight`, and 0 for expected cost."""
    expected = float(np.dot(probabilities, costs))
    if risk.measure == "expected" or risk.weight == 0:
        return expected
    if risk.measure == "worst_case":
        tail = float(np.max(costs))
    else:
        tail = min(float(eta + np.dot(probabilities, np.maximum(costs - eta, 0.0))
                         / (1 - risk.alpha)) for eta in costs)
    return (1 - risk.weight) * expected + risk.weight * tail


def relaxation_by_scenario(network: Network, built: BuiltModel,
                           families: Mapping[str, np.ndarray], columns: int,
                           money_unit: float, *,
                           solve_lp: SolveLp,
                           stop: Callable[[], bool], deadline: Deadline, log: list[str],
                           say: Callable[[str], None] = lambda line: None,
                           workers: int = 1, helpers: ScenarioHelpers | None = None,
                           time_left: Callable[[], float | None] = lambda: None
                           ) -> tuple[float, np.ndarray | None]:
    """The bound of the whole model `built` (`columns` columns, money in units of
    `money_unit`) and a vector over its columns holding the first-stage families'
    probability-weighted mean LP values (every other column 0), or (-inf, None) if a
    scenario's LP ends without an optimum or `stop` says so. `solve_lp` solves one
    scenario's LP (`heuristics.solve_relaxation` within the solve's time limit). Each
    scenario is prepared, built, handed off and solved by one of `workers` threads (HiGHS
    gives up Python's lock while it solves; preparing and building hold it); `say` hears of
    each scenario solved.

    `helpers` (see `optimizer.solve.spread`) are offered every scenario but the first, to
    be solved within `time_left()` seconds; the threads solve each scenario no helper took
    first, then the helpers' are awaited (`_wait_for_helpers`): each one the solve also
    solves itself meanwhile, keeping whichever answer comes first, so that a slow helper
    costs no more than the solve's own time."""
    scenarios = list(network.scenarios)
    costs = np.full(len(scenarios), -np.inf)
    x = np.zeros(columns)
    adding = threading.Lock()
    helped: list[int] = []  # positions a helper took

    def found(position: int, relaxed: ScenarioBound) -> None:
        """Scenario `position`'s bound into `costs`, its first-stage values into `x`."""
        scenario = scenarios[position]
        costs[position] = relaxed.bound / money_unit
        elapsed = time.perf_counter() - deadline.started
        by = f", solved by {relaxed.solved_by}" if relaxed.solved_by else ""
        text = (f"LP relaxation by scenario: {scenario.scenario} alone at least"
                f" {relaxed.bound:,.0f}")
        log.append(f"{text} ({elapsed:.1f} s into the solve{by})")
        say(f"  {elapsed:6.1f} s  {text} ({int(np.isfinite(costs).sum())} of"
            f" {len(scenarios)}{by})")
        with adding:
            _add_first_stage(x, built, families, relaxed.first_stage, scenario.probability)

    def solve_here(position: int, until: Callable[[], bool] = stop) -> ScenarioBound | None:
        """Scenario `position` alone, solved by this solve (its LP stops when `until`
        says so)."""
        name = scenarios[position].scenario
        alone = offered_alone.pop(name, None) or scenario_alone(network, name)
        return relax_alone(alone, lambda arrays: solve_lp(arrays, stop=until))

    def relax(position: int) -> bool:
        """Scenario `position` alone, unless a helper took it first. Whether it has a bound
        or is a helper's."""
        scenario = scenarios[position]
        if stop():
            return False
        if helpers is not None and position > 0 and not helpers.take(scenario.scenario):
            with adding:
                helped.append(position)
            return True
        relaxed = solve_here(position)
        if relaxed is None:
            log.append(f"LP relaxation by scenario: no bound for {scenario.scenario}")
            return False
        found(position, relaxed)
        return True

    offered_alone: dict[str, Network] = {}  # made once, for the helpers and for this solve
    if helpers is not None:
        for scenario in scenarios[1:]:
            offered_alone[scenario.scenario] = scenario_alone(network, scenario.scenario)
            helpers.offer(scenario.scenario, offered_alone[scenario.scenario], time_left())
    if workers > 1 and len(scenarios) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(scenarios)),
                                thread_name_prefix="reshore-scenario") as pool:
            solved = all(list(pool.map(relax, range(len(scenarios)))))
    else:
        solved = all(relax(position) for position in range(len(scenarios)))
    if helpers is not None and solved:
        _wait_for_helpers(helpers, [scenarios[p].scenario for p in sorted(helped)],
                          found=lambda name, relaxed: found(_position(scenarios, name), relaxed),
                          solve=lambda name, until: solve_here(_position(scenarios, name), until),
                          stop=stop, log=log)
    if not np.isfinite(costs).all():  # a scenario without a bound, or stopped
        return -np.inf, None
    probabilities = np.array([s.probability for s in scenarios], dtype=float)
    return risk_objective(costs, probabilities, network.settings.risk), x


HELPER_POLL_S = 0.5
"""Seconds between two looks at a scenario a helper is solving."""


def _wait_for_helpers(helpers: ScenarioHelpers, waiting: list[str], *,
                      found: Callable[[str, ScenarioBound], None],
                      solve: Callable[[str, Callable[[], bool]], ScenarioBound | None],
                      stop: Callable[[], bool], log: list[str]) -> None:
    """The helpers' scenarios `waiting`, each one's bound to `found`: the solve solves each
    in turn itself (`solve`), stopping as soon as its helper answers; the helper's answer is
    kept when it came first, the solve's own when the helper failed, stopped or was slower.
    Until `stop` says so."""
    for name in waiting:
        if stop():
            return
        race = _HelperRace(helpers, name)
        own = None if race.answered() else solve(name, race.or_answered(stop))
        if own is not None:
            note = ("its helper failed or stopped" if race.state is Answer.LOST
                    else "before its helper answered")
            log.append(f"{name}'s LP relaxation solved here, {note}")
            found(name, own)
        elif race.state is Answer.DONE and race.relaxed is not None:
            found(name, race.relaxed)
        else:  # stopped, or the scenario has no bound
            return


class _HelperRace:
    """Where a helper's scenario stands, looked up at most every `HELPER_POLL_S` (the
    solve's own LP of it asks at each HiGHS callback)."""

    def __init__(self, helpers: ScenarioHelpers, name: str) -> None:
        self.helpers, self.name = helpers, name
        self.state, self.relaxed = helpers.answer(name)
        self.looked = time.monotonic()

    def answered(self) -> bool:
        """Whether the helper's bound is in."""
        if self.state is Answer.PENDING and time.monotonic() - self.looked >= HELPER_POLL_S:
            self.looked = time.monotonic()
            self.state, self.relaxed = self.helpers.answer(self.name)
        return self.state is Answer.DONE

    def or_answered(self, stop: Callable[[], bool]) -> Callable[[], bool]:
        """`stop`, or the helper's bound is in: when the solve's own LP of it stops."""
        return lambda: stop() or self.answered()


def _position(scenarios: list[Any], name: str) -> int:
    return next(p for p, s in enumerate(scenarios) if s.scenario == name)


def relax_alone(alone_network: Network,
                solve_lp: Callable[[LpArrays], tuple[float, np.ndarray | None]]
                ) -> ScenarioBound | None:
    """The LP relaxation of `alone_network` (one scenario, `variants.scenario_alone`): its
    optimum in currency and its first-stage values by key; None when `solve_lp` ends without
    an optimum. What a helper runs for an offered scenario too (`reshore.api.spread`)."""
    alone = prepare(alone_network)
    money_unit = alone.money_unit
    built_alone = network_design.build(alone)
    handoff = to_highs_lp(built_alone)
    alone_families = heuristics.family_columns(built_alone, handoff.columns)
    keyed = {}
    for family in FIRST_STAGE_FAMILIES:
        if family not in alone_families:
            continue
        spec = built_alone.families[family]
        frame = spec.keys[spec.key_columns].assign(column=alone_families[family])
        keyed[family] = frame[frame.column >= 0]
    arrays = handoff.arrays.rows_equilibrated()
    del alone, built_alone, handoff  # the scenario's Pyomo model, freed before its LP
    gc.collect()
    bound, x_alone = solve_lp(arrays)
    if x_alone is None:
        return None
    first_stage = {family: frame.assign(value=x_alone[frame.column.to_numpy()])
                   .drop(columns="column").reset_index(drop=True)
                   for family, frame in keyed.items()}
    return ScenarioBound(bound=bound * money_unit, first_stage=first_stage)


def _add_first_stage(x: np.ndarray, built: BuiltModel, families: Mapping[str, np.ndarray],
                     first_stage: Mapping[str, pd.DataFrame], weight: float) -> None:
    """Add `weight` times a scenario's first-stage values (by key) to the whole model's
    columns `x`, matched by key."""
    for family, values in first_stage.items():
        if family not in families:
            continue
        spec = built.families[family]
        mine = spec.keys[spec.key_columns].assign(whole_column=families[family])
        matched = mine.merge(values, on=spec.key_columns, how="inner")
        matched = matched[matched.whole_column >= 0]
        np.add.at(x, matched.whole_column.to_numpy(np.int64),
                  weight * matched.value.to_numpy(dtype=float))


def plan_by_scenario(network: Network, built: BuiltModel, families: Mapping[str, np.ndarray],
                     columns: int, fixing: heuristics.Fixing, *,
                     solve_fixed: Callable[[LpArrays, heuristics.Fixing],
                                           heuristics.Start | None],
                     stop: Callable[[], bool], log: list[str],
                     say: Callable[[str], None] = lambda line: None
                     ) -> heuristics.Fixing | None:
    """The plan of `fixing`, which holds every first-stage decision of the whole model
    `built` (`columns` columns), worked out one scenario at a time: a fixing of the whole
    model that holds every column but the money ones (`MONEY_FAMILIES`), which its
    restricted solve then works out; None when a scenario's LP (`solve_fixed`) ends without
    a plan or `stop` says so.

    With the first-stage decisions fixed, the scenarios are tied only by the committed
    periods' flows (`COMMITTED_FAMILIES`). These come first, from the scenario of least
    demand (`least_demand_scenario`), or else from an instance of its own whose demand is
    the least of any scenario's (`least_demand_alone`): flows that serve no scenario more
    than it demands fit every scenario, whose LP then holds them. (The risk terms tie
    scenarios too, but the objective does not fall when a scenario's cost falls, so each
    scenario's cheapest flows are the whole model's.) On synthetic XL (seed 0) each
    scenario's LP took 35 s, where the whole model's with the same sites took 420-450 s.
    `say` hears of each scenario solved.

    `solve_fixed` should leave out crossover: with the committed flows held, the interior
    point solver reached the optimum of XL's second scenario in 32 s without it, and with
    it stalled short of the accuracy crossover asks for, leaving simplex a clean-up it had
    not finished after 300 s."""
    pinned = np.full(columns, np.nan)
    pinned[fixing.columns] = fixing.values
    plan = np.full(columns, np.nan)
    scenarios = [s.scenario for s in network.scenarios]
    commit = network.settings.commit_periods if len(scenarios) > 1 else 0
    committed: dict[str, pd.DataFrame] | None = None
    plan_alone = functools.partial(_plan_alone, built=built, families=families,
                                   pinned=pinned, commit=commit, solve_fixed=solve_fixed,
                                   stop=stop, source=fixing.source)
    least = least_demand_scenario(network) if commit else None
    if least is not None:
        scenarios.remove(least)
        scenarios.insert(0, least)
    elif commit:
        found = plan_alone(least_demand_alone(network), "least demand", committed=None)
        if found is None:
            log.append(f"{fixing.source}, by scenario: no plan of the committed periods")
            return None
        committed = found[2]
        say(f"{fixing.source}: the committed periods' flows, from the least demand")
    for position, scenario in enumerate(scenarios, start=1):
        found = plan_alone(scenario_alone(network, scenario), scenario, committed=committed)
        if found is None:
            log.append(f"{fixing.source}, by scenario: no plan for {scenario}")
            return None
        whole_columns, values, early = found
        plan[whole_columns] = values
        if committed is None:
            committed = early
        say(f"{fixing.source}: {scenario}'s flows ({position} of {len(scenarios)})")
    held = np.flatnonzero(~np.isnan(plan))
    return heuristics.Fixing(columns=held, values=plan[held],
                             source=f"{fixing.source}, by scenario")


def _plan_alone(alone_network: Network, name: str, *, built: BuiltModel,
                families: Mapping[str, np.ndarray], pinned: np.ndarray,
                committed: dict[str, pd.DataFrame] | None, commit: int,
                solve_fixed: Callable[[LpArrays, heuristics.Fixing], heuristics.Start | None],
                stop: Callable[[], bool], source: str
                ) -> tuple[np.ndarray, np.ndarray, dict[str, pd.DataFrame]] | None:
    """One scenario's plan (`alone_network`, one scenario) with the first-stage decisions
    `pinned` (NaN where free; whole-model columns) and the committed periods' flows held at
    `committed` (0 for a flow it does not name; None: free): the whole-model columns of its
    members, their values, and its committed periods' flows (by key, scenario left out).
    None when its LP ends without a plan or `stop` says so."""
    if stop():
        return None
    alone = prepare(alone_network)
    built_alone = network_design.build(alone)
    handoff = to_highs_lp(built_alone)
    alone_families = heuristics.family_columns(built_alone, handoff.columns)
    names = [f for f in built_alone.families if f not in MONEY_FAMILIES]
    whole_columns, alone_columns = _matching_columns(built, families, built_alone,
                                                     alone_families, names)
    given = ~np.isnan(pinned[whole_columns])
    fixed_columns, fixed_values = [alone_columns[given]], [pinned[whole_columns[given]]]
    early: dict[str, pd.DataFrame] = {}
    for family in COMMITTED_FAMILIES:
        if family not in alone_families:
            continue
        keys = built_alone.families[family].keys
        key_columns = [c for c in built_alone.families[family].key_columns if c != "scenario"]
        first = keys[(keys.period < commit).to_numpy()]
        early[family] = first[key_columns].assign(
            column=alone_families[family][first.position.to_numpy()])
        if committed is not None:
            held = early[family].merge(committed[family], on=key_columns, how="left")
            fixed_columns.append(held.column.to_numpy(np.int64))
            fixed_values.append(held.value.fillna(0.0).to_numpy(dtype=float))
    arrays = handoff.arrays.rows_equilibrated()
    del alone, built_alone, handoff  # the scenario's Pyomo model, freed before its LP
    gc.collect()
    columns = np.concatenate(fixed_columns)
    present = columns >= 0
    start = solve_fixed(arrays, heuristics.Fixing(
        columns=columns[present], values=np.concatenate(fixed_values)[present],
        source=f"{source} ({name})"))
    if start is None:
        return None
    flows = {family: frame.assign(value=np.where(frame.column >= 0,
                                                 start.values[np.maximum(frame.column, 0)],
                                                 0.0)).drop(columns="column")
             for family, frame in early.items()}
    return whole_columns, start.values[alone_columns], flows


def _matching_columns(built: BuiltModel, families: Mapping[str, np.ndarray],
                      built_alone: BuiltModel, alone_families: Mapping[str, np.ndarray],
                      names: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each member of the families `names` in both models, matched by its keys: its column
    in the whole model and its column in the scenario's."""
    whole, alone = [], []
    for family in names:
        if family not in families or family not in alone_families:
            continue
        keys = built.families[family].keys
        mine = keys.assign(whole_column=families[family])
        theirs = built_alone.families[family].keys.assign(alone_column=alone_families[family])
        matched = mine.drop(columns="position").merge(
            theirs.drop(columns="position"), on=built.families[family].key_columns,
            how="inner")
        matched = matched[(matched.whole_column >= 0) & (matched.alone_column >= 0)]
        whole.append(matched.whole_column.to_numpy(np.int64))
        alone.append(matched.alone_column.to_numpy(np.int64))
    empty = np.zeros(0, dtype=np.int64)
    return (np.concatenate(whole) if whole else empty,
            np.concatenate(alone) if alone else empty)
