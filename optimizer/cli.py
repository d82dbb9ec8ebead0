"""`reshore` command line: solve an instance and print a planner's summary.

    reshore solve                      # the bundled flagship dataset
    reshore solve path/to/instance     # a CSV folder, an .xlsx or a .json
    reshore validate path/to/instance  # check the input only
    reshore replan --previous PLAN NEW --now PERIOD  # replan (see optimizer.replan_commands)
    reshore diff PLAN_A PLAN_B         # how two plans differ, per table
    reshore serve | worker | keys | db  # the HTTP job service (see docs/api.md)

Exit status: 0 a plan was found, 1 no plan (infeasible, time limit), 2 the input is invalid.
Progress goes to standard error; with --json, standard output carries only the summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from reshore.api.cli import COMMANDS as SERVICE_COMMANDS
from reshore.api.cli import add_commands as add_service_commands
from reshore.api.cli import run as run_service_command
from reshore.data import FLAGSHIP_NAME, flagship_path
from reshore.optimizer.check import check
from reshore.optimizer.io import load_network
from reshore.optimizer.replan_commands import COMMANDS as REPLAN_COMMANDS
from reshore.optimizer.replan_commands import add_commands as add_replan_commands
from reshore.optimizer.replan_commands import run as run_replan_command
from reshore.optimizer.results import Plan
from reshore.optimizer.schema import InvalidNetwork, Network, parse_network
from reshore.optimizer.solve import SolveOptions, solve

EXIT_PLAN, EXIT_NO_PLAN, EXIT_INVALID_INPUT = 0, 1, 2


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reshore", description="Supply-chain network design under tariff risk.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("solve", help="solve an instance and write the plan")
    run.add_argument("path", nargs="?", help="CSV folder, .xlsx or .json (default: the"
                     f" bundled flagship dataset '{FLAGSHIP_NAME}')")
    run.add_argument("--out", type=Path, help="folder for the plan's CSV files and plan.xlsx"
                     " (default: plans/<instance name>)")
    run.add_argument("--time-limit", type=float, help="seconds (default: settings.solver)")
    run.add_argument("--gap", type=float, help="relative MIP gap (default: settings.solver)")
    run.add_argument("--threads", type=int, help="HiGHS threads")
    run.add_argument("--seed", type=int, help="HiGHS random seed")
    run.add_argument("--risk", choices=["expected", "cvar", "worst_case"],
                     help="risk measure (default: settings.risk.measure)")
    run.add_argument("--alpha", type=float, help="CVaR level, e.g. 0.9")
    run.add_argument("--weight", type=float, help="risk weight lambda in [0, 1]")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--solver-log", action="store_true", help="show the HiGHS log")
    run.add_argument("--no-check", action="store_true",
                     help="skip the independent plan check")

    validate = commands.add_parser("validate", help="check an instance without solving it")
    validate.add_argument("path", nargs="?", help="CSV folder, .xlsx or .json")
    add_replan_commands(commands)
    add_service_commands(commands)
    return parser


def _with_risk(network: Network, args: argparse.Namespace) -> Network:
    """The instance with the command line's risk settings applied (validated again)."""
    changes = {key: value for key, value in (("measure", args.risk), ("alpha", args.alpha),
                                             ("weight", args.weight)) if value is not None}
    if not changes:
        return network
    tables = network.to_tables()
    tables["settings"]["risk"].update(changes)
    return parse_network(tables)


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1e9:
        return f"${value / 1e9:,.3f} bn"
    if abs(value) >= 1e6:
        return f"${value / 1e6:,.2f} m"
    return f"${value:,.2f}"


def format_summary(plan: Plan, network: Network) -> str:
    """The plan as a planner reads it first."""
    lines = []
    status = str(plan.status)
    if plan.gap is not None:
        status += f" (gap {100 * plan.gap:.3f}%, bound {_money(plan.bound)})"
    lines.append(f"Status: {status}")
    for reason in plan.diagnosis:
        lines.append(f"  - {reason}")
    if not plan.has_solution:
        return "\n".join(lines)
    risk = plan.risk
    lines.append(f"Objective ({risk['measure']}, weight {risk['weight']:g},"
                 f" alpha {risk['alpha']:g}): {_money(plan.objective)}")
    lines.append(f"Expected cost {_money(plan.expected_cost())} | CVaR{100 * risk['alpha']:g}"
                 f" {_money(plan.cvar())} | worst case {_money(plan.worst_case_cost())}")
    lines.append("Sites:")
    for row in plan.tables["sites"].itertuples(index=False):
        if row.status == "open":
            what = f"opens {row.open_period} at tier {row.tier}"
        elif row.status == "existing":
            what = f"kept (existing, tier {row.tier})"
        elif row.status == "closed":
            what = f"closes {row.close_period}"
        else:
            what = "not opened"
        lines.append(f"  {row.site:<24} {row.country:<4} {what}")
    tariffs = plan.tariff_by_country()
    if not tariffs.empty:
        probability = tariffs.scenario.map(plan.scenarios)
        expected = (tariffs.tariff_cost * probability).groupby(tariffs.origin_country).sum()
        expected = expected[expected > 0].sort_values(ascending=False)
        if not expected.empty:
            lines.append("Expected tariff spend by origin country (nominal):")
            lines += [f"  {country:<4} {_money(float(v))}" for country, v in expected.items()]
    service = plan.service_level()
    if service is not None:
        lines.append(f"Service level (expected share of demand served): {100 * service:.2f}%")
    share = plan.domestic_share()
    if share is not None:
        lines.append(f"Domestic share of component purchase value: {100 * share:.1f}%")
    t, size = plan.timings, plan.size
    lines.append(f"Model: {size.variables:,} variables ({size.integer_variables:,} integer),"
                 f" {size.constraints:,} constraints, {size.nonzeros:,} nonzeros")
    lines.append(f"Timings: prepare {t.prepare:.2f} s, build {t.build:.2f} s,"
                 f" hand-off {t.handoff:.2f} s, solve {t.solve:.2f} s")
    return "\n".join(lines)


def _load(path: str | None) -> tuple[Network, str]:
    source = Path(path) if path else flagship_path()
    _progress(f"reading {source if path else f'the flagship dataset ({FLAGSHIP_NAME})'}")
    started = time.perf_counter()
    network = load_network(source)
    _progress(f"validated {len(network.sites)} sites, {len(network.offers)} offers,"
              f" {len(network.customers)} customers, {len(network.settings.periods)} periods,"
              f" {len(network.scenarios)} scenarios in {time.perf_counter() - started:.2f} s")
    return network, source.stem if path else FLAGSHIP_NAME


def _solve_command(args: argparse.Namespace) -> int:
    network, name = _load(args.path)
    network = _with_risk(network, args)
    options = SolveOptions(time_limit_s=args.time_limit, mip_gap=args.gap, threads=args.threads,
                           random_seed=args.seed, log_to_console=args.solver_log,
                           progress=_progress)
    plan = solve(network, options)
    if plan.has_solution and not args.no_check:
        report = check(network, plan)
        _progress("independent check: " + ("passed" if report.ok else "FAILED"))
        if not report.ok:
            _progress(str(report))
    out = args.out or Path("plans") / name
    if plan.has_solution:
        plan.write(out)
        _progress(f"plan written to {out}/ (CSV tables, plan.xlsx, summary.json)")
    if args.json:
        print(json.dumps(plan.to_json()["summary"], indent=2))
    else:
        print(format_summary(plan, network))
    return EXIT_PLAN if plan.has_solution else EXIT_NO_PLAN


def _validate_command(args: argparse.Namespace) -> int:
    _load(args.path)
    print("the instance is valid")
    return EXIT_PLAN


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in SERVICE_COMMANDS:
            return run_service_command(args)
        if args.command in REPLAN_COMMANDS:
            return run_replan_command(args, _progress)
        if args.command == "solve":
            return _solve_command(args)
        return _validate_command(args)
    except InvalidNetwork as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
