"""`reshore solve`: solve an instance, check the plan independently, write it, summarise it."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reshore.optimizer.commands.options import (
    Alpha,
    Gap,
    InstancePath,
    OutFolder,
    Risk,
    RiskMeasure,
    Seed,
    Threads,
    TimeLimit,
    Weight,
    writable_folder_problem,
)
from reshore.optimizer.commands.progress import Progress, progress_for
from reshore.optimizer.commands.report import write_plan_report
from reshore.optimizer.commands.shared import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_NO_PLAN,
    EXIT_PLAN,
    fail,
    instance_source,
    load_instance,
    stderr,
    stdout,
    stdout_to_stderr,
)
from reshore.optimizer.commands.summary import print_summary

if TYPE_CHECKING:
    from reshore.optimizer.results import Plan
    from reshore.optimizer.schema import Network


def with_risk(network: Network, measure: RiskMeasure | None, alpha: float | None,
              weight: float | None) -> Network:
    """The instance with the command line's risk settings applied (validated again)."""
    from reshore.optimizer.schema import parse_network

    changes = {key: value for key, value in (("measure", measure and str(measure)),
                                             ("alpha", alpha), ("weight", weight))
               if value is not None}
    if not changes:
        return network
    tables = network.to_tables()
    tables["settings"]["risk"].update(changes)
    return parse_network(tables, network.warnings)


def solve_command(
    path: InstancePath = None,
    out: OutFolder = None,
    time_limit: TimeLimit = None,
    gap: Gap = None,
    threads: Threads = None,
    seed: Seed = None,
    risk: Risk = None,
    alpha: Alpha = None,
    weight: Weight = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print only the summary as JSON on standard output.")] = False,
    solver_log: Annotated[bool, typer.Option(
        "--solver-log", help="Show the HiGHS log on standard error (with plain progress"
                             " lines).")] = False,
    no_check: Annotated[bool, typer.Option(
        "--no-check", help="Skip the independent plan check.")] = False,
    report: Annotated[bool, typer.Option(
        "--report", help="Also write report.html (self-contained) and input.json beside the"
                         " plan.")] = False,
) -> None:
    """Solve an instance, check the plan and write it (CSV tables, plan.xlsx, summary.json).

    Exit status: 0 a plan, checked; 1 no plan (infeasible, time limit); 2 invalid input or
    options; 3 the plan failed the independent check.
    """
    from reshore.optimizer.schema import InvalidNetwork
    from reshore.optimizer.solve import SolveOptions, solve

    _, name = instance_source(path)
    folder = out if out is not None else Path("plans") / name
    if out is None and (problem := writable_folder_problem(folder)) is not None:
        raise fail(f"cannot write the plan: {problem}; choose another folder with --out",
                   EXIT_INVALID)
    timings: dict[str, float] = {}
    with progress_for(stderr(), live=not solver_log) as progress:
        try:
            started = time.perf_counter()
            network = load_instance(path, progress.say)
            try:
                network = with_risk(network, risk, alpha, weight)
            except InvalidNetwork as error:
                raise fail(str(error), EXIT_INVALID) from None
            timings["read and validate"] = time.perf_counter() - started
            options = SolveOptions(time_limit_s=time_limit, mip_gap=gap, threads=threads,
                                   random_seed=seed, log_to_console=solver_log,
                                   progress=progress.say, on_progress=progress.numbers)
            with stdout_to_stderr() if solver_log else contextlib.nullcontext():
                plan = solve(network, options)
            check_passed = _check(network, plan, progress, timings) if not no_check else None
            _write(plan, folder, progress, timings)
            if report and plan.has_solution:
                progress.say(f"report written to {write_plan_report(folder, network)}")
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
    _report(plan, timings, as_json, check_passed)
    if not plan.has_solution:
        raise typer.Exit(EXIT_NO_PLAN)
    if check_passed is False:
        raise fail(f"the plan written to {folder}/ FAILED the independent check (listed"
                   " above): do not use it", EXIT_CHECK_FAILED)
    raise typer.Exit(EXIT_PLAN)


def _check(network: Network, plan: Plan, progress: Progress,
           timings: dict[str, float]) -> bool | None:
    """Run the independent plan check (None without a plan); say its verdict."""
    from reshore.optimizer.check import check

    if not plan.has_solution:
        return None
    started = time.perf_counter()
    report = check(network, plan)
    timings["check"] = time.perf_counter() - started
    progress.say("independent check: " + ("passed" if report.ok else "FAILED"))
    if not report.ok:
        for violation in report.violations:
            progress.say(f"check failed: {violation}")
    return report.ok


def _write(plan: Plan, folder: Path, progress: Progress, timings: dict[str, float]) -> None:
    started = time.perf_counter()
    try:
        plan.write(folder)
    except OSError as error:
        raise fail(f"cannot write the plan to {folder}: {error}", EXIT_NO_PLAN) from None
    timings["write"] = time.perf_counter() - started
    if plan.has_solution:
        progress.say(f"plan written to {folder}/ (CSV tables, plan.xlsx, summary.json)")
    else:
        progress.say(f"no plan: its status and diagnosis written to {folder}/summary.json")


def _report(plan: Plan, timings: dict[str, float], as_json: bool,
            check_passed: bool | None) -> None:
    if as_json:
        summary = plan.to_json()["summary"]
        summary["check"] = {None: "not run", True: "passed", False: "failed"}[check_passed]
        print(json.dumps(summary, indent=2))
    else:
        print_summary(stdout(), plan, timings)
