"""The `whatif`, `analyze` and `report` commands, apart from the command-line parser: each
takes plain arguments, writes its files, prints what a planner reads first and returns the
exit status (0 done, 1 no plan, 2 invalid input). Progress goes to the `progress` callback
(standard error on the command line).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from reshore.optimizer.analytics import DEFAULT_RISK_WEIGHTS, analyze, frontier
from reshore.optimizer.io import load_network, write_json
from reshore.optimizer.report import INPUT_FILE, write_report
from reshore.optimizer.schema import ANY, Network
from reshore.optimizer.variants import apply_all, read_variants
from reshore.optimizer.whatif import NO_LIMITS, SolveLimits, run_whatif, write_whatif

EXIT_DONE, EXIT_NO_PLAN, EXIT_INVALID_INPUT = 0, 1, 2
Say = Callable[[str], None]


def _money(value: object) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{value / 1e6:,.1f}"


def format_comparison(table: pd.DataFrame) -> str:
    """The comparison as a planner reads it first (money in US$ millions)."""
    width = max(8, *(len(str(v)) for v in table.variant))
    lines = [f"{'variant':<{width}}  {'status':<11} {'objective':>11} {'delta':>9}"
             f" {'E[cost]':>11} {'CVaR':>11} {'tariffs':>9} {'service':>8}  changes"]
    for row in table.to_dict("records"):
        delta = row["delta_objective_pct"]
        service = row["service_level"]
        lines.append(
            f"{row['variant']:<{width}}  {row['status']:<11} {_money(row['objective']):>11}"
            f" {f'{delta:+.2f}%' if isinstance(delta, float) and math.isfinite(delta) else '-':>9}"
            f" {_money(row['expected_cost']):>11} {_money(row['cvar']):>11}"
            f" {_money(row['tariff_spend']):>9}"
            f" {f'{100 * service:.2f}%' if isinstance(service, float) else '-':>8}"
            f"  {row['changes'] if isinstance(row['changes'], str) else row['reason'] or ''}")
    lines.append("(money in US$ millions; delta: objective against the base)")
    return "\n".join(lines)


def whatif_command(base_path: str | Path, variants_path: str | Path, *,
                   out: str | Path | None = None, jobs: int = 2,
                   limits: SolveLimits = NO_LIMITS, report: bool = False,
                   say: Say = print) -> int:
    """reshore whatif BASE VARIANTS: solve base and variants, write plans and comparison."""
    base = load_network(base_path)
    applied = apply_all(base, read_variants(variants_path))
    target = Path(out) if out is not None else Path("whatif") / Path(base_path).stem
    say(f"solving the base and {len(applied)} variants, {jobs} at a time")
    for variant in applied:
        for note in variant.notes:
            say(f"  {variant.name}: {note}")
    result = run_whatif(base, applied, jobs=jobs, limits=limits, progress=say)
    write_whatif(result, target)
    write_json(base, target / INPUT_FILE)
    say(f"what-if run: {result.wall_s:.1f} s wall time on {jobs} process(es); the solves took"
        f" {sum(o.wall_s for o in result.runs):.1f} s in all")
    say(f"plans and comparison written to {target}/ (comparison.csv, comparison.xlsx,"
        f" base/, variants/<name>/)")
    print(format_comparison(result.comparison), flush=True)
    if report:
        say("cost-risk frontier of the base for the report")
        points = frontier(base, DEFAULT_RISK_WEIGHTS, jobs=jobs, limits=limits, progress=say)
        (target / "frontier.json").write_text(json.dumps([asdict(p) for p in points],
                                                         indent=2))
        say(f"report written to {write_report(target, base)}")
    return EXIT_DONE if result.base.plan is not None and result.base.plan.has_solution else (
        EXIT_NO_PLAN)


def analyze_command(path: str | Path, *, as_json: bool = False,
                    countries: Sequence[str] = (), tariff_class: str = ANY,
                    tolerance: float = 0.005, max_rate: float = 1.0,
                    site_values: bool = True, out: str | Path | None = None, jobs: int = 2,
                    limits: SolveLimits = NO_LIMITS, say: Say = print) -> int:
    """reshore analyze PATH: EVPI, VSS, frontier, break-even rates, site values."""
    network = load_network(path)
    analysis = analyze(network, break_even_countries=countries, tariff_class=tariff_class,
                       tolerance=tolerance, max_rate=max_rate, with_site_values=site_values,
                       jobs=jobs, limits=limits, progress=say)
    document = analysis.to_json()
    if out is not None:
        target = Path(out)
        target.mkdir(parents=True, exist_ok=True)
        (target / "analysis.json").write_text(json.dumps(document, indent=2))
        say(f"analysis written to {target / 'analysis.json'}")
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        print(format_analysis(network, document))
    return EXIT_DONE


def format_analysis(network: Network, document: dict[str, object]) -> str:
    """The analysis in words and figures (US$ millions)."""
    def m(key: str) -> str:
        return _money(document[key])

    lines = ["Expected-cost objective (Birge & Louveaux), US$ millions:",
             f"  RP {m('rp')} | WS {m('ws')} | EV {m('ev')} | EEV {m('eev')}",
             f"  EVPI = RP - WS = {m('evpi')}   VSS = EEV - RP = {m('vss')}",
             f"  RP decisions: {document['rp_decisions']}",
             f"  EV decisions: {document['ev_decisions']}",
             "Cost-risk frontier (weight: expected cost, CVaR; * dominated):"]
    frontier_points = document["frontier"]
    assert isinstance(frontier_points, list)
    for p in frontier_points:
        mark = " *" if p["dominated"] else ""
        what = p["decisions"] if p["expected_cost"] is not None else (
            f"{p['status']}: {p['reason']}")
        lines.append(f"  {p['weight']:.2f}: {_money(p['expected_cost'])},"
                     f" {_money(p['cvar'])}{mark}  {what}")
    rates = document["break_even"]
    assert isinstance(rates, list)
    for b in rates:
        scope = b["origin_country"] + ("" if b["tariff_class"] == ANY else
                                       f" {b['tariff_class']}")
        if b["rate"] is None:
            lines.append(f"Break-even extra tariff on {scope}: none between"
                         f" {b['below']:.0%} and {b['above']:.0%}")
        else:
            lines.append(f"Break-even extra tariff on {scope}: {b['rate']:.2%}"
                         f" (between {b['below']:.2%} and {b['above']:.2%},"
                         f" tolerance {b['tolerance']:.2%})")
            lines.append(f"  below: {b['decisions_below']}")
            lines.append(f"  above: {b['decisions_above']}")
    values = document["site_values"]
    assert isinstance(values, list)
    if values:
        lines.append("Candidate sites (US$ millions): increase if forbidden,"
                     " decrease if forced open")
        for v in values:
            lines.append(f"  {v['site']:<22} {v['base_decision']:<24}"
                         f" {_money(v['increase_if_forbidden']):>9}"
                         f" {_money(v['decrease_if_forced_open']):>9}")
    name = network.settings.periods[0]
    lines.append(f"(horizon from {name}; {len(network.scenarios)} scenarios)")
    return "\n".join(lines)


def report_command(folder: str | Path, *, input_path: str | Path | None = None,
                   out: str | Path | None = None, say: Say = print) -> int:
    """reshore report DIR: write the HTML report of a plan or what-if folder."""
    target = write_report(folder, input_path=input_path, out=out)
    say(f"report written to {target}")
    return EXIT_DONE


def write_plan_report(folder: str | Path, network: Network) -> Path:
    """`solve --report`: keep the instance beside the plan and write the report."""
    write_json(network, Path(folder) / INPUT_FILE)
    return write_report(folder, network)

