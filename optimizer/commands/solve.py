"""`reshore solve`: solve an instance, check the plan independently, write it, summarise it."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reshore.data import FLAGSHIP_NAME
from reshore.optimizer.commands.options import (
    available_cores,
    check_out_folder,
    number_in,
    writable_folder_problem,
)
from reshore.optimizer.commands.progress import Progress, progress_for
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
)
from reshore.optimizer.commands.summary import print_summary

if TYPE_CHECKING:
    from reshore.optimizer.results import Plan
    from reshore.optimizer.schema import Network


class RiskMeasure(StrEnum):
    expected = "expected"
    cvar = "cvar"
    worst_case = "worst_case"


InstancePath = Annotated[Path | None, typer.Argument(
    help="CSV folder, .xlsx or .json of the data contract.",
    show_default=f"the bundled flagship dataset '{FLAGSHIP_NAME}'")]


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
    return parse_network(tables)


def solve_command(
    path: InstancePath = None,
    out: Annotated[Path | None, typer.Option(
        help="Folder for the plan's CSV files, plan.xlsx and summary.json; it must be a"
             " folder that exists or can be created.",
        show_default="plans/<instance name>", callback=check_out_folder)] = None,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", help="Wall-clock limit in seconds (> 0).", show_default="settings.solver",
        callback=number_in(0, low_open=True))] = None,
    gap: Annotated[float | None, typer.Option(
        help="Relative MIP gap at which to stop (>= 0).", show_default="settings.solver",
        callback=number_in(0))] = None,
    threads: Annotated[int | None, typer.Option(
        help="HiGHS threads.", show_default="settings.solver, else HiGHS's choice",
        min=1, max=available_cores())] = None,
    seed: Annotated[int | None, typer.Option(
        help="HiGHS random seed.", show_default="settings.solver", min=0)] = None,
    risk: Annotated[RiskMeasure | None, typer.Option(
        help="Risk measure of the objective.", show_default="settings.risk")] = None,
    alpha: Annotated[float | None, typer.Option(
        help="CVaR confidence level, 0 < alpha < 1 (used with --risk cvar).",
        show_default="settings.risk",
        callback=number_in(0, 1, low_open=True, high_open=True))] = None,
    weight: Annotated[float | None, typer.Option(
        help="Risk weight lambda in [0, 1]: objective = (1 - lambda) expected cost"
             " + lambda risk.",
        show_default="settings.risk", callback=number_in(0, 1))] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print only the summary as JSON on standard output.")] = False,
    solver_log: Annotated[bool, typer.Option(
        "--solver-log", help="Show the HiGHS log (plain progress lines then).")] = False,
    no_check: Annotated[bool, typer.Option(
        "--no-check", help="Skip the independent plan check.")] = False,
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
            plan = solve(network, options)
            check_passed = _check(network, plan, progress, timings) if not no_check else None
            _write(plan, folder, progress, timings)
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
