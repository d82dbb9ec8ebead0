"""`reshore diff`: how one plan differs from another, table by table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reshore.optimizer.commands.shared import EXIT_INVALID, EXIT_PLAN, fail


def diff_command(
    plan_a: Annotated[Path, typer.Argument(help="Folder of the first plan (as `reshore solve`"
                                                " writes it).")],
    plan_b: Annotated[Path, typer.Argument(help="Folder of the second plan.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
    rows: Annotated[int, typer.Option("--rows", min=0, help="Changed rows shown per table.")]
    = 10,
) -> None:
    """Per table: rows added, removed and changed, units moved and the cost effect of PLAN_B
    against PLAN_A; then the first changed rows of each table.

    Exit status: 0 the diff was printed; 2 a folder is not a plan.
    """
    from reshore.optimizer.diff import PlanFolderError, diff_plans, read_plan

    try:
        diff = diff_plans(read_plan(plan_a), read_plan(plan_b))
    except PlanFolderError as error:
        raise fail(str(error), EXIT_INVALID) from None
    print(json.dumps(diff.to_json(), indent=2, default=str) if as_json
          else diff.format(rows_per_table=rows))
    raise typer.Exit(EXIT_PLAN)
