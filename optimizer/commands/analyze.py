"""`reshore analyze`: EVPI and VSS on expected cost, the cost-risk frontier, break-even
tariffs and site values (docs/analytics.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from reshore.optimizer.commands.options import (
    Gap,
    InstancePath,
    TimeLimit,
    check_out_folder,
    number_in,
)
from reshore.optimizer.commands.progress import PlainProgress
from reshore.optimizer.commands.shared import (
    EXIT_INTERRUPTED,
    EXIT_NO_PLAN,
    EXIT_PLAN,
    fail,
    load_instance,
    stdout,
)
from reshore.optimizer.commands.whatif import Jobs, amount


def analysis_lines(document: dict[str, Any]) -> list[str]:
    """The analysis in words and figures."""
    def m(key: str) -> str:
        return amount(document[key])

    lines = ["Expected-cost objective (Birge & Louveaux):",
             f"  RP {m('rp')} | WS {m('ws')} | EV {m('ev')} | EEV {m('eev')}",
             f"  EVPI = RP - WS = {m('evpi')}   VSS = EEV - RP = {m('vss')}",
             f"  RP decisions: {document['rp_decisions']}",
             f"  EV decisions: {document['ev_decisions']}",
             "Cost-risk frontier (risk weight: expected cost, CVaR; * dominated):"]
    for p in document["frontier"]:
        what = p["decisions"] if p["expected_cost"] is not None else (
            f"{p['status']}: {p['reason']}")
        lines.append(f"  {p['weight']:.2f}: {amount(p['expected_cost'])},"
                     f" {amount(p['cvar'])}{' *' if p['dominated'] else ''}  {what}")
    for b in document["break_even"]:
        scope = b["origin_country"] + ("" if b["tariff_class"] == "*" else
                                       f" {b['tariff_class']}")
        if b["rate"] is None:
            lines.append(f"Break-even extra tariff on {scope}: no change of decisions between"
                         f" {b['below']:.0%} and {b['above']:.0%}")
            continue
        lines += [f"Break-even extra tariff on {scope}: {b['rate']:.2%} (between"
                  f" {b['below']:.2%} and {b['above']:.2%}, tolerance {b['tolerance']:.2%})",
                  f"  below: {b['decisions_below']}", f"  above: {b['decisions_above']}"]
    if document["site_values"]:
        lines.append("Candidate sites: objective increase if forbidden, decrease if"
                     " forced open")
        for v in document["site_values"]:
            lines.append(f"  {v['site']:<22} {v['base_decision']:<26}"
                         f" {amount(v['increase_if_forbidden']):>14}"
                         f" {amount(v['decrease_if_forced_open']):>14}")
    return lines


def analyze_command(
    path: InstancePath = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the figures as JSON (keys rp, ws, ev, eev, evpi, vss, frontier,"
                       " break_even, site_values).")] = False,
    break_even: Annotated[list[str] | None, typer.Option(
        "--break-even", help="Origin country of a break-even tariff (repeatable).")] = None,
    tariff_class: Annotated[str, typer.Option(
        "--tariff-class", help="Tariff class of the break-even tariff ('*': all).")] = "*",
    tolerance: Annotated[float, typer.Option(
        "--tolerance", help="Break-even bisection tolerance, as a rate.",
        callback=number_in(0, low_open=True))] = 0.005,
    max_rate: Annotated[float, typer.Option(
        "--max-rate", help="Upper end of the break-even search, as a rate.",
        callback=number_in(0, low_open=True))] = 1.0,
    no_site_values: Annotated[bool, typer.Option(
        "--no-site-values", help="Skip the site values (two solves per candidate).")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for analysis.json.", callback=check_out_folder)] = None,
    jobs: Jobs = 2,
    time_limit: TimeLimit = None,
    gap: Gap = None,
) -> None:
    """Tariff-risk analytics: EVPI, VSS, cost-risk frontier, break-even tariffs, site values.

    Exit status: 0 done; 1 a solve the analysis needs found no plan; 2 invalid input.
    """
    from reshore.optimizer.analytics import AnalysisFailed, analyze
    from reshore.optimizer.whatif import SolveLimits

    say = PlainProgress().say
    network = load_instance(path, say)
    try:
        analysis = analyze(network, break_even_countries=break_even or [],
                           tariff_class=tariff_class, tolerance=tolerance, max_rate=max_rate,
                           with_site_values=not no_site_values, jobs=jobs,
                           limits=SolveLimits(time_limit_s=time_limit, mip_gap=gap),
                           progress=say)
    except AnalysisFailed as error:
        raise fail(str(error), EXIT_NO_PLAN) from None
    except KeyboardInterrupt:
        raise fail("interrupted", EXIT_INTERRUPTED) from None
    document = analysis.to_json()
    if out is not None:
        (out / "analysis.json").write_text(json.dumps(document, indent=2))
        say(f"analysis written to {out / 'analysis.json'}")
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        stdout().print("\n".join(analysis_lines(document)))
    raise typer.Exit(EXIT_PLAN)
