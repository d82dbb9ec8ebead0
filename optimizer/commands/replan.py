"""`reshore replan`: replan a new instance from a previous plan (see `optimizer.replan`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reshore.optimizer.commands.options import Gap, OutFolder, TimeLimit
from reshore.optimizer.commands.progress import progress_for
from reshore.optimizer.commands.shared import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_NO_PLAN,
    EXIT_PLAN,
    fail,
    load_instance,
    stderr,
)

if TYPE_CHECKING:
    from reshore.optimizer.replan import Replan


def change_penalty(values: list[str]) -> float | dict[str, float]:
    """--change-penalty values: one number, or TABLE=number pairs."""
    if not values:
        return 0.0
    try:
        if len(values) == 1 and "=" not in values[0]:
            return float(values[0])
        pairs = [value.split("=", 1) for value in values]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError
        return {table: float(number) for table, number in pairs}
    except ValueError:
        raise typer.BadParameter(f"{' '.join(values)!r} is neither one number nor"
                                 " TABLE=number pairs", param_hint="--change-penalty") from None


def replan_command(
    path: Annotated[Path, typer.Argument(help="The new instance: CSV folder, .xlsx or .json.")],
    previous: Annotated[Path, typer.Option(
        "--previous", help="Folder of the previous plan (as `reshore solve` writes it).")],
    now: Annotated[str, typer.Option("--now", help="First period that is not history.")],
    freeze: Annotated[int, typer.Option(
        "--freeze", min=0, help="Periods from --now whose purchases, production and"
                                " shipments keep the previous plan.")] = 0,
    penalty: Annotated[list[str] | None, typer.Option(
        "--change-penalty", metavar="X|TABLE=X",
        help="Price per unit moved beyond the frozen window: one value, or TABLE=X for"
             " sourcing, production or shipments (repeat the option).")] = None,
    actuals: Annotated[Path | None, typer.Option(
        "--actuals", help="Folder of actual sourcing/production/shipments/sites CSVs (the"
                          " plan's shape) replacing the previous plan before --now.")] = None,
    out: OutFolder = None,
    time_limit: TimeLimit = None,
    gap: Gap = None,
    no_warm_start: Annotated[bool, typer.Option(
        "--no-warm-start", help="Do not hand the previous plan to HiGHS as a MIP"
                                " start.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print replan.json (options, forced changes, warm start, diff).")]
    = False,
) -> None:
    """Replan NEW_INSTANCE from a previous plan: history before --now fixed, the frozen
    window kept (forced changes reported), changes beyond it priced; writes the plan as
    `solve` does plus replan.json, and prints the diff against the previous plan.

    Exit status: 0 a plan, checked; 1 no plan; 2 invalid input or options; 3 the plan failed
    the independent check.
    """
    from reshore.optimizer.check import check
    from reshore.optimizer.diff import PlanFolderError
    from reshore.optimizer.replan import ReplanError, ReplanOptions, replan
    from reshore.optimizer.solve import SolveOptions

    penalties = change_penalty(penalty or [])
    folder = out if out is not None else Path("plans") / f"{path.stem}_replan"
    with progress_for(stderr(), live=True) as progress:
        try:
            network = load_instance(path, progress.say)
            options = ReplanOptions(now=now, freeze=freeze, change_penalty=penalties,
                                    warm_start=not no_warm_start)
            result = replan(network, previous, options, SolveOptions(
                time_limit_s=time_limit, mip_gap=gap, progress=progress.say,
                on_progress=progress.numbers), actuals=actuals)
        except (ReplanError, PlanFolderError) as error:
            raise fail(str(error), EXIT_INVALID) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        plan = result.plan
        passed = None
        if plan.has_solution:
            report = check(network, plan)
            passed = report.ok
            progress.say("independent check: " + ("passed" if report.ok else "FAILED"))
            for violation in report.violations:
                progress.say(f"check failed: {violation}")
        try:
            result.write(folder)
        except OSError as error:
            raise fail(f"cannot write the plan to {folder}: {error}", EXIT_NO_PLAN) from None
        progress.say(f"plan written to {folder}/ (as solve writes it, plus replan.json)")
    if as_json:
        print(json.dumps(result.report(), indent=2, default=str))
    else:
        print(_summary(result))
    if not plan.has_solution:
        raise typer.Exit(EXIT_NO_PLAN)
    if passed is False:
        raise fail(f"the plan written to {folder}/ FAILED the independent check: do not use"
                   " it", EXIT_CHECK_FAILED)
    raise typer.Exit(EXIT_PLAN)


def _summary(result: Replan) -> str:
    plan = result.plan
    lines = [f"Status: {plan.status}"]
    lines += [f"  - {reason}" for reason in plan.diagnosis]
    if not plan.has_solution:
        return "\n".join(lines)
    lines.append(f"Cost (objective without change penalties): {plan.objective:,.2f};"
                 f" change penalties paid {result.change_penalty_paid or 0:,.2f}")
    lines.append(f"History: {', '.join(result.history_periods) or '-'}; frozen:"
                 f" {', '.join(result.frozen_periods) or '-'}; warm start: {result.warm_start}")
    lines.append(f"Forced changes: {len(result.forced_changes)}")
    lines += [f"  - {forced}" for forced in result.forced_changes]
    lines.append(result.diff.format())
    return "\n".join(lines)
