"""`reshore` command line (Typer and Rich): solve an instance and print a planner's summary.

    reshore solve                      # the bundled flagship dataset
    reshore solve path/to/instance     # a CSV folder, an .xlsx or a .json
    reshore validate path/to/instance  # check the input only
    reshore replan NEW --previous PLAN --now PERIOD  # replan from a previous plan
    reshore diff PLAN_A PLAN_B         # how two plans differ, table by table
    reshore whatif BASE VARIANTS [--out DIR] [--jobs N] [--report]   # docs/whatif.md
    reshore analyze [PATH] [--json]    # EVPI, VSS, frontier, break-even, site values
    reshore report DIR                 # the HTML report of a plan or what-if folder
    reshore serve | worker | keys | db # the HTTP job service (the `service` extra)
    reshore --version

Exit status (`reshore.optimizer.commands.shared`): 0 a plan was found, passed the independent
check and was written (or the command did its job); 1 no plan (infeasible, time limit), the plan
could not be written, or a service command failed; 2 the input or the command line is invalid;
3 the plan failed the independent check; 4 a service command without the `service` extra
installed; 5 an unexpected error (a bug); 130 interrupted.
Progress goes to standard error (a live display on a terminal, plain lines otherwise); the
summary goes to standard output, with --json as JSON only.

Adding a command: write `optimizer/commands/<name>.py` with one function whose parameters are
the command's arguments and options, typed with the shared aliases of `commands.options`
(`InstancePath`, `OutFolder`, `TimeLimit`, `Gap`, `Threads`, `Risk`, `Alpha`, `Weight`...) or
`Annotated[..., typer.Option(help=..., min=..., callback=number_in(...))]` of its own, so
that Typer checks them as options; its docstring is its help. It reads the instance with
`shared.load_instance`, shows progress with `progress.progress_for(shared.stderr())`, prints
its result with `shared.stdout()` (tables from `summary` where they fit) and ends with `raise
typer.Exit(status)` using the statuses of `commands.shared`. Import the solver's modules
(pandas, Pyomo, HiGHS) inside the function, so that `--help` stays quick, and nothing from
`reshore.api` or the service's packages: the core installs without them. Then register it
below with one line, `app.command("<name>")(function)` (or `app.add_typer(sub_app,
name="<name>")` for a group of commands), and add its test to tests/test_cli.py.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from reshore import __version__
from reshore.optimizer.commands.analyze import analyze_command
from reshore.optimizer.commands.diff import diff_command
from reshore.optimizer.commands.replan import replan_command
from reshore.optimizer.commands.report import report_command
from reshore.optimizer.commands.service import add_service_commands
from reshore.optimizer.commands.shared import EXIT_UNEXPECTED
from reshore.optimizer.commands.solve import solve_command
from reshore.optimizer.commands.validate import validate_command
from reshore.optimizer.commands.whatif import whatif_command


def _print_version(value: bool) -> None:
    if value:
        print(f"reshore {__version__}")
        raise typer.Exit()


def with_version(app: typer.Typer) -> typer.Typer:
    """`app` with the `--version` option (and the program's description)."""

    @app.callback()
    def reshore(
        version: Annotated[bool, typer.Option(
            "--version", help="Print the version and exit.", is_eager=True,
            callback=_print_version)] = False,
    ) -> None:
        """Supply-chain network design under tariff risk."""

    return app


app = with_version(typer.Typer(
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]}))
app.command("solve")(solve_command)
app.command("validate")(validate_command)
app.command("replan")(replan_command)
app.command("diff")(diff_command)
app.command("whatif")(whatif_command)
app.command("analyze")(analyze_command)
app.command("report")(report_command)
add_service_commands(app)


def run(commands: typer.Typer) -> None:
    """Run `commands` as `reshore`. An unexpected error (a bug) is one line on standard error
    and exit status 5; RESHORE_TRACEBACK=1 shows its traceback instead."""
    try:
        commands(prog_name="reshore")
    except Exception as error:
        if os.environ.get("RESHORE_TRACEBACK") == "1":
            raise
        print(f"error: unexpected {type(error).__name__}: {error} (a bug in reshore: please"
              " report it; RESHORE_TRACEBACK=1 shows where it happened)", file=sys.stderr)
        sys.exit(EXIT_UNEXPECTED)


def main() -> None:
    """The `reshore` console script."""
    run(app)


if __name__ == "__main__":
    main()
