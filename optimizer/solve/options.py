"""What a solve may be told: the solver options, the tuning of the solve path, and where its
progress goes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reshore.optimizer.decisions import FirstStage
from reshore.optimizer.schema import Network
from reshore.optimizer.solve.spread import ScenarioHelpers

Progress = Callable[[str], None]
"""Receives one line of human-readable progress at a time."""

MipStart = Mapping[str, Mapping[Any, float]]
"""Values per variable family: family name (e.g. "open", "close") -> {index: value}."""


@dataclass(frozen=True)
class SolveProgress:
    """Where a MIP solve stands: None where HiGHS has no value yet."""

    elapsed_s: float
    best_objective: float | None
    bound: float | None
    gap: float | None


@dataclass(frozen=True)
class SolveOptions:
    """Solver options; None takes the instance's `settings.solver` value, then HiGHS's own.

    The fields after `highs_options` tune the solve path (see docs/formulation.md, "How the
    model reaches HiGHS"); their defaults are what the benchmarks were measured with."""

    time_limit_s: float | None = None
    mip_gap: float | None = None
    threads: int | None = None
    random_seed: int | None = None
    log_to_console: bool = False
    progress_every_s: float = 2.0
    """Seconds between two MIP progress reports."""
    highs_options: dict[str, Any] = field(default_factory=dict)
    """Further HiGHS options by name, for experts (e.g. {"mip_heuristic_effort": 0.2})."""
    cheapest_sites_kept: int = 20
    """Strong linking rows kept in the LP per customer, period and scenario: those of the
    customer's cheapest sites (the relaxation sends flow there first). The other rows are
    held back, added by the LP rounds where the relaxation violates them and checked on every
    integer answer. With this many candidate sites or fewer, nothing is held back."""
    hold_back_rows: bool = True
    """Whether rows may be held back at all (False: every row is in the LP from the start)."""
    max_lp_rounds: int = 50
    """At most this many LP rounds adding violated held-back rows before the MIP."""
    lp_rounds_share: float = 0.5
    """Share of the time limit after which no further LP round starts: the MIP gets the rest."""
    min_round_gain: float = 1e-4
    """An LP round that raised the bound by less than this share of it ends the rounds: the
    rows it found barely tighten the relaxation, and each round costs a re-solve."""
    root_lp_solver: str = "ipm"
    """HiGHS solver for the first LP (the first LP round, and the MIP's root relaxation):
    interior point with crossover; later rounds and the MIP's node LPs warm-start dual
    simplex. Any value of HiGHS's `solver` option."""
    construct_start: bool = True
    """Before the LP relaxation: the idle plan (nothing built, demand unmet, where that is
    allowed) and a greedy choice of sites, the rest solved, as MIP starts (see
    `optimizer.heuristics`)."""
    lp_guided_start: bool = True
    """After the LP relaxation: its site, qualification and assignment decisions rounded,
    the rest solved, as a MIP start."""
    scenario_relaxation_min_columns: int = 100_000
    """On models of at least this many columns with more than one scenario, the LP
    relaxation is solved one scenario at a time (`optimizer.solve.by_scenario`): a slightly
    weaker bound from much smaller LPs (synthetic L: the bound at 55 to 72 s instead of 230
    to 460 s; XL: one scenario's LP in 184 s, the whole model's unsolved at a 1,700 s
    limit). Synthetic M (55,000 to 60,000 columns) keeps the whole relaxation, whose
    rounding gave the better plans there. Not where a caller has fixed decisions or changed
    the built model (`first_stage`, a replan)."""
    concurrent_relaxation: bool = True
    """Where the solve may use more than one core (`threads` above 1, or not set on a
    machine of more than one core) and no row is held back: the LP relaxation for the
    LP-guided start runs from the start on a thread of its own (one HiGHS thread), beside
    the construction, instead of after it. The relaxation by scenario then solves its
    scenarios on the cores left (at least one)."""
    starts_min_columns: int = 50_000
    """The greedy and LP-guided starts run on models of at least this many columns and
    `starts_min_integers` integer columns only: on smaller ones HiGHS finds good plans
    itself, and the starts' extra LP solves only cost time (the flagship, 26,000 columns:
    the same plan in 55 s with them, 26 s without)."""
    starts_min_integers: int = 200
    """See `starts_min_columns` (OR-Library's capa/b/c, 100 sites and 100,000 columns, are
    solved to optimality by HiGHS from its own plans and stay on that path)."""
    start_share: float = 0.25
    """Share of the time limit that each restricted solve (a given start, the construction,
    each LP rounding) may use at most once a plan exists; until then a restricted solve may
    use the rest of the time limit."""
    restricted_gap: float = 1e-3
    """Relative gap at which a restricted solve stops (or the solve's own gap if coarser)."""
    mip_start: MipStart | None = field(default=None, compare=False)
    """Values of some decisions by variable family, e.g. {"open": {("site1", "T1", 0): 1}}:
    they are fixed, the rest solved, and the plan handed to HiGHS as a MIP start."""
    heartbeat_s: float = 5.0
    """Seconds of solver silence (presolve, a long root relaxation) after which a 'still
    working' line goes to `progress`."""
    progress: Progress | None = field(default=None, compare=False)
    on_progress: Callable[[SolveProgress], None] | None = field(default=None, compare=False)
    """Receives the MIP's best objective, bound and gap as numbers, as often as `progress`."""
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)
    """Polled during the solve; when it returns True the solve is interrupted (during the
    MIP's root relaxation HiGHS looks only once that relaxation is solved)."""
    scenario_helpers: ScenarioHelpers | None = field(default=None, compare=False)
    """Other processes that may solve scenarios of the relaxation by scenario meanwhile
    (`optimizer.solve.spread`; the service's Celery workers)."""
    first_stage: FirstStage | None = None
    """First-stage decisions held fixed (what-if analytics: evaluate given decisions, force a
    site open); see `optimizer.decisions`."""

    def __post_init__(self) -> None:
        problems = [f"{name} must be {rule}, not {value!r}" for name, value, ok, rule in (
            ("cheapest_sites_kept", self.cheapest_sites_kept, self.cheapest_sites_kept >= 0,
             "at least 0"),
            ("max_lp_rounds", self.max_lp_rounds, self.max_lp_rounds >= 0, "at least 0"),
            ("lp_rounds_share", self.lp_rounds_share, 0 <= self.lp_rounds_share <= 1,
             "between 0 and 1"),
            ("min_round_gain", self.min_round_gain, self.min_round_gain >= 0, "at least 0"),
            ("heartbeat_s", self.heartbeat_s, self.heartbeat_s > 0, "positive"),
            ("scenario_relaxation_min_columns", self.scenario_relaxation_min_columns,
             self.scenario_relaxation_min_columns >= 0, "at least 0"),
            ("starts_min_columns", self.starts_min_columns, self.starts_min_columns >= 0,
             "at least 0"),
            ("starts_min_integers", self.starts_min_integers, self.starts_min_integers >= 0,
             "at least 0"),
            ("start_share", self.start_share, 0 < self.start_share <= 1,
             "above 0 and at most 1"),
            ("restricted_gap", self.restricted_gap, self.restricted_gap >= 0, "at least 0"),
        ) if not ok]
        if problems:
            raise ValueError("; ".join(problems))

    def resolved(self, network: Network) -> SolveOptions:
        """These options with the instance's settings filled in where none was given."""
        given = network.settings.solver
        return replace(
            self,
            time_limit_s=self.time_limit_s if self.time_limit_s is not None else given.time_limit_s,
            mip_gap=self.mip_gap if self.mip_gap is not None else given.mip_gap,
            threads=self.threads if self.threads is not None else given.threads,
            random_seed=self.random_seed if self.random_seed is not None else given.random_seed,
        )

    @property
    def rank_kept(self) -> int | None:
        """The strong linking rows ranked up to this stay in the LP (None: all rows do)."""
        return self.cheapest_sites_kept if self.hold_back_rows else None

    def say(self, message: str) -> None:
        """Send one line to `progress`, if anyone listens."""
        if self.progress is not None:
            self.progress(message)
