"""`reshore whatif`: solve an instance and its variants in worker processes, write every
plan and the comparison, print the comparison (docs/whatif.md)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from reshore.optimizer.commands.options import Gap, TimeLimit, available_cores, check_out_folder
from reshore.optimizer.commands.progress import PlainProgress
from reshore.optimizer.commands.shared import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_NO_PLAN,
    EXIT_PLAN,
    fail,
    load_instance,
    money,
    stdout,
)

if TYPE_CHECKING:
    import pandas as pd

Jobs = Annotated[int, typer.Option(
    "--jobs", help="Solves at a time, each in its own process (one HiGHS thread each when"
                   " more than one).", min=1, max=max(available_cores(), 1) * 4)]


def amount(value: Any) -> str:
    """Money as a planner reads it ($1.23 m, $4.567 bn); '-' for a missing value."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return money(0.0 if abs(value) < 0.005 else float(value))  # no "-0.00" from solver noise


def comparison_view(table: pd.DataFrame) -> Table:
    """The comparison as a planner reads it first."""
    view = Table(title="What-if comparison (delta: objective against the base)",
                 title_justify="left", show_edge=False, pad_edge=False)
    for header in ("variant", "status", "objective", "delta", "E[cost]", "CVaR", "tariffs",
                   "service", "changes"):
        text = header in ("variant", "status", "changes")
        view.add_column(Text(header), justify="left" if text else "right", overflow="fold")
    for row in table.to_dict("records"):
        delta, service = row["delta_objective_pct"], row["service_level"]
        changes = row["changes"] if isinstance(row["changes"], str) else (
            row["reason"] if isinstance(row["reason"], str) else "")
        cells = [
            str(row["variant"]), str(row["status"]), amount(row["objective"]),
            f"{delta:+.2f}%" if isinstance(delta, float) and math.isfinite(delta) else "-",
            amount(row["expected_cost"]), amount(row["cvar"]),
            amount(row["tariff_spend"]),
            f"{100 * service:.2f}%" if isinstance(service, float) and math.isfinite(service)
            else "-", changes]
        view.add_row(*(Text(cell) for cell in cells))  # names hold brackets: no markup
    return view


def whatif_command(
    base: Annotated[Path, typer.Argument(help="The base instance: CSV folder, .xlsx or"
                                              " .json of the data contract.")],
    variants: Annotated[Path, typer.Argument(help="Variants file, .yaml or .json (see"
                                                  " docs/whatif.md).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for the plans, comparison.csv and comparison.xlsx.",
        show_default="whatif/<base name>", callback=check_out_folder)] = None,
    jobs: Jobs = 2,
    time_limit: TimeLimit = None,
    gap: Gap = None,
    report: Annotated[bool, typer.Option(
        "--report", help="Also write report.html (self-contained), with the base's cost-risk"
                         " frontier.")] = False,
    warm_start: Annotated[bool | None, typer.Option(
        "--warm-start/--no-warm-start",
        help="Solve the base first and hand its plan to every variant as a MIP start.",
        show_default="no-warm-start")] = None,
) -> None:
    """Solve an instance and its variants, and compare them.

    Exit status: 0 the base has a plan (variants without one keep their status and reason in
    the comparison); 1 the base has no plan; 2 invalid input or variants.
    """
    from reshore.optimizer.analytics import DEFAULT_RISK_WEIGHTS, frontier
    from reshore.optimizer.io import write_json
    from reshore.optimizer.report import INPUT_FILE, write_report
    from reshore.optimizer.variants import VariantError, apply_all, read_variants
    from reshore.optimizer.whatif import WARM_START, SolveLimits, run_whatif, write_whatif

    say = PlainProgress().say
    network = load_instance(base, say)
    try:
        applied = apply_all(network, read_variants(variants))
    except VariantError as error:
        raise fail(str(error), EXIT_INVALID) from None
    target = out if out is not None else Path("whatif") / base.stem
    limits = SolveLimits(time_limit_s=time_limit, mip_gap=gap)
    warm = WARM_START if warm_start is None else warm_start
    say(f"solving the base and {len(applied)} variants, {jobs} at a time"
        + ("; the base first, its plan the variants' MIP start" if warm else ""))
    for variant in applied:
        for note in variant.notes:
            say(f"  {variant.name}: {note}")
    try:
        result = run_whatif(network, applied, jobs=jobs, limits=limits, warm_start=warm,
                            progress=say)
        write_whatif(result, target)
        write_json(network, target / INPUT_FILE)
        say(f"what-if run: {result.wall_s:.1f} s wall time on {jobs} process(es); the solves"
            f" took {sum(o.wall_s for o in result.runs):.1f} s in all")
        say(f"plans and comparison written to {target}/ (comparison.csv, comparison.xlsx,"
            " base/, variants/<name>/)")
        console = stdout()
        if not console.is_terminal:  # a file or a pipe: no folding into 80 columns
            console.width = 240
        console.print(comparison_view(result.comparison))
        if report:
            say("cost-risk frontier of the base for the report")
            points = frontier(network, DEFAULT_RISK_WEIGHTS, jobs=jobs, limits=limits,
                              progress=say)
            (target / "frontier.json").write_text(json.dumps([asdict(p) for p in points],
                                                             indent=2))
            say(f"report written to {write_report(target, network)}")
    except KeyboardInterrupt:
        raise fail("interrupted", EXIT_INTERRUPTED) from None
    has_plan = result.base.plan is not None and result.base.plan.has_solution
    raise typer.Exit(EXIT_PLAN if has_plan else EXIT_NO_PLAN)
