"""`reshore report`: the self-contained HTML report of a plan or what-if folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reshore.optimizer.commands.progress import PlainProgress
from reshore.optimizer.commands.shared import EXIT_INVALID, EXIT_PLAN, fail

if TYPE_CHECKING:
    from reshore.optimizer.schema import Network


def report_command(
    folder: Annotated[Path, typer.Argument(help="A plan folder (reshore solve --out) or a"
                                                " what-if folder (reshore whatif --out).")],
    input_path: Annotated[Path | None, typer.Option(
        "--input", help="The instance, when the folder has no input.json.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="The HTML file to write.", show_default="FOLDER/report.html")] = None,
) -> None:
    """Write one self-contained HTML report (map, costs, tariffs, utilisation, unmet demand;
    for a what-if run the comparison, the change per variant and the frontier).

    Exit status: 0 written; 2 the folder holds no plan, or no instance to draw from.
    """
    from reshore.optimizer.report import ReportError, write_report

    try:
        target = write_report(folder, input_path=input_path, out=out)
    except ReportError as error:
        raise fail(str(error), EXIT_INVALID) from None
    PlainProgress().say(f"report written to {target}")
    raise typer.Exit(EXIT_PLAN)


def write_plan_report(folder: Path, network: Network) -> Path:
    """`solve --report`: keep the instance beside the plan (input.json) and write the
    report."""
    from reshore.optimizer.io import write_json
    from reshore.optimizer.report import INPUT_FILE, write_report

    write_json(network, folder / INPUT_FILE)
    return write_report(folder, network)
