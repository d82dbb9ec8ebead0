"""Analysis jobs: a job whose options carry `analysis` (`POST /v1/analyses`) runs the
tariff-risk analytics (`optimizer.analytics.analyze`, docs/analytics.md) on its instance
instead of one solve, its sub-solves one after the other in the job's process. The job's
time limit is the whole analysis's: the per-sub-solve limit times the sub-solves it runs at
most (`sub_solve_limit` undoes that). Its result is the document `reshore analyze --json`
prints."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from reshore.api.figures import InstanceFigures
from reshore.api.models import Job, JobStatus
from reshore.api.store import Outcome
from reshore.optimizer.analytics import AnalysisFailed, analyze, solve_count
from reshore.optimizer.schema import Network
from reshore.optimizer.whatif import SolveLimits


def is_analysis(job: Job) -> bool:
    """Whether the job is an analysis (its options carry `analysis`)."""
    return bool(json.loads(job.options).get("analysis"))


def planned_for(scenarios: int, candidates: int, analysis: dict[str, Any]) -> int:
    """The sub-solves the analysis asked for runs at most, on an instance of `scenarios`
    scenarios and `candidates` candidate sites."""
    return solve_count(scenarios, candidates,
                       break_even_countries=analysis.get("break_even", []),
                       tolerance=float(analysis.get("tolerance", 0.005)),
                       max_rate=float(analysis.get("max_rate", 1.0)),
                       with_site_values=bool(analysis.get("site_values", True)))


def analysis_time_limit(figures: InstanceFigures, analysis: dict[str, Any],
                        per_sub_solve_s: float) -> float:
    """The job's time limit: the per-sub-solve limit times the sub-solves at most."""
    return per_sub_solve_s * planned_for(figures.scenarios, figures.candidate_sites, analysis)


def _planned(network: Network, analysis: dict[str, Any]) -> int:
    return planned_for(len(network.scenarios), len(network.candidate_sites()), analysis)


def sub_solve_limit(network: Network, analysis: dict[str, Any], job_limit_s: float) -> float:
    """The per-sub-solve time limit of an analysis job of time limit `job_limit_s`."""
    return job_limit_s / _planned(network, analysis)


def run_analysis(network: Network, options: dict[str, Any], job_limit_s: float,
                 threads: int | None, progress: Callable[[str], None],
                 should_stop: Callable[[], bool]) -> Outcome:
    """Run the analysis; the job's outcome (the analysis document as its result)."""
    analysis = options["analysis"]
    per_solve = sub_solve_limit(network, analysis, job_limit_s)
    planned = _planned(network, analysis)
    progress(f"analysis: at most {planned} sub-solves of at most {per_solve:g} s each")
    limits = SolveLimits(time_limit_s=per_solve, mip_gap=options.get("mip_gap"),
                         threads=threads, random_seed=options.get("random_seed"),
                         should_stop=should_stop)
    try:
        result = analyze(network, break_even_countries=analysis.get("break_even", []),
                         tariff_class=str(analysis.get("tariff_class", "*")),
                         tolerance=float(analysis.get("tolerance", 0.005)),
                         max_rate=float(analysis.get("max_rate", 1.0)),
                         with_site_values=bool(analysis.get("site_values", True)),
                         jobs=1, limits=limits, progress=progress)
    except AnalysisFailed as error:
        if should_stop():
            return Outcome(status=JobStatus.CANCELLED, message="cancelled during the analysis")
        reason = f"the analysis cannot finish: {error}"
        return Outcome(status=JobStatus.FAILED, error=reason, message=reason)
    if should_stop():
        return Outcome(status=JobStatus.CANCELLED, message="cancelled during the analysis")
    document = result.to_json()
    message = (f"analysis done: evpi {_figure(document['evpi'])},"
               f" vss {_figure(document['vss'])}")
    return Outcome(status=JobStatus.SUCCEEDED, plan=json.dumps(document, allow_nan=False),
                   message=message)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"
