"""The `replan` and `diff` commands of the `reshore` command line.

    reshore replan --previous PLAN_DIR NEW_INSTANCE --now PERIOD [--freeze N]
                   [--change-penalty X | --change-penalty TABLE=X ...] [--actuals DIR]
                   [--out DIR] [--no-warm-start] [--json]
    reshore diff PLAN_A PLAN_B [--json]

`replan` writes its plan as `solve` does, plus replan.json (options, forced changes, warm
start, diff); exit status as for `solve`. `diff` prints how PLAN_B differs from PLAN_A.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from reshore.optimizer.check import check
from reshore.optimizer.diff import PlanFolderError, diff_plans, read_plan
from reshore.optimizer.io import load_network
from reshore.optimizer.replan import ReplanError, ReplanOptions, replan
from reshore.optimizer.solve import SolveOptions

COMMANDS = ("replan", "diff")
EXIT_PLAN, EXIT_NO_PLAN, EXIT_INVALID_INPUT = 0, 1, 2


def add_commands(commands: Any) -> None:
    """Add `replan` and `diff` to the command line's subparsers."""
    run = commands.add_parser("replan", help="replan an instance from a previous plan")
    run.add_argument("path", help="the new instance: CSV folder, .xlsx or .json")
    run.add_argument("--previous", type=Path, required=True,
                     help="folder of the previous plan (as `reshore solve` writes it)")
    run.add_argument("--now", required=True, help="first period that is not history")
    run.add_argument("--freeze", type=int, default=0,
                     help="periods from --now whose flows keep the previous plan (default 0)")
    run.add_argument("--change-penalty", action="append", default=[], metavar="X|TABLE=X",
                     help="price per unit moved beyond the frozen window: one value, or"
                     " TABLE=X for sourcing, production or shipments (repeatable)")
    run.add_argument("--actuals", type=Path,
                     help="folder of actual sourcing/production/shipments/sites CSVs")
    run.add_argument("--out", type=Path,
                     help="folder for the plan (default: plans/<instance name>_replan)")
    run.add_argument("--time-limit", type=float, help="seconds (default: settings.solver)")
    run.add_argument("--gap", type=float, help="relative MIP gap (default: settings.solver)")
    run.add_argument("--no-warm-start", action="store_true",
                     help="do not hand the previous plan to HiGHS as a MIP start")
    run.add_argument("--json", action="store_true", help="print replan.json's content")
    diff = commands.add_parser("diff", help="how plan B differs from plan A, per table")
    diff.add_argument("plan_a", type=Path, help="folder of the first plan")
    diff.add_argument("plan_b", type=Path, help="folder of the second plan")
    diff.add_argument("--json", action="store_true", help="print the diff as JSON")


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
        raise ReplanError(f"--change-penalty: {' '.join(values)!r} is neither one number nor"
                          " TABLE=number pairs") from None


def run(args: argparse.Namespace, progress: Any) -> int:
    """Run `replan` or `diff`; errors in the options or folders become messages."""
    try:
        if args.command == "diff":
            return _diff(args)
        return _replan(args, progress)
    except (ReplanError, PlanFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT


def _diff(args: argparse.Namespace) -> int:
    diff = diff_plans(read_plan(args.plan_a), read_plan(args.plan_b))
    print(json.dumps(diff.to_json(), indent=2, default=str) if args.json else diff.format())
    return EXIT_PLAN


def _replan(args: argparse.Namespace, progress: Any) -> int:
    network = load_network(Path(args.path))
    options = ReplanOptions(now=args.now, freeze=args.freeze,
                            change_penalty=change_penalty(args.change_penalty),
                            warm_start=not args.no_warm_start)
    result = replan(network, args.previous, options,
                    SolveOptions(time_limit_s=args.time_limit, mip_gap=args.gap,
                                 progress=progress), actuals=args.actuals)
    plan = result.plan
    if not plan.has_solution:
        print(f"Status: {plan.status}")
        for reason in plan.diagnosis:
            print(f"  - {reason}")
        return EXIT_NO_PLAN
    report = check(network, plan)
    progress("independent check: " + ("passed" if report.ok else f"FAILED\n{report}"))
    out = args.out or Path("plans") / f"{Path(args.path).stem}_replan"
    result.write(out)
    progress(f"plan written to {out}/ (as solve writes it, plus replan.json)")
    if args.json:
        print(json.dumps(result.report(), indent=2, default=str))
        return EXIT_PLAN
    print(f"Status: {plan.status}; cost {plan.objective:,.2f}; change penalties paid"
          f" {result.change_penalty_paid or 0:,.2f}")
    print(f"History: {', '.join(result.history_periods) or '-'}; frozen:"
          f" {', '.join(result.frozen_periods) or '-'}; warm start: {result.warm_start}")
    print(f"Forced changes: {len(result.forced_changes)}")
    for forced in result.forced_changes:
        print(f"  - {forced}")
    print(result.diff.format())
    return EXIT_PLAN
