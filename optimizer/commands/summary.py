"""A solved plan as a planner reads it first: status, the risk figures that apply, the sites
decision, tariff spend by origin, service level, model size and timings, as Rich tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from reshore.optimizer.commands.shared import money
from reshore.optimizer.solve.scaling import ranges_by_part, span_text

if TYPE_CHECKING:
    from reshore.optimizer.results import Plan


def objective_label(risk: dict[str, Any]) -> str:
    """The objective's name with only the risk parameters that apply to it."""
    measure, weight = risk["measure"], float(risk["weight"])
    if measure == "expected" or weight == 0:
        return "expected cost"
    name = f"CVaR {100 * float(risk['alpha']):g}%" if measure == "cvar" else "worst case"
    if weight == 1:
        return name
    return f"{1 - weight:g} x expected cost + {weight:g} x {name}"


def status_line(plan: Plan) -> str:
    line = f"Status: {plan.status}"
    if plan.gap is not None:
        line += f" (gap {100 * plan.gap:.3f}%, bound {money(plan.bound)})"
    return line


def _key_values(title: str, rows: Iterable[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None,
                  padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    for key, value in rows:
        table.add_row(key, value)
    return table


def figures_table(plan: Plan) -> Table:
    rows = [(f"Objective ({objective_label(plan.risk)})", money(plan.objective)),
            ("Expected cost", money(plan.expected_cost()))]
    if plan.risk["measure"] == "cvar":
        rows.append((f"CVaR {100 * float(plan.risk['alpha']):g}%", money(plan.cvar())))
    rows.append(("Worst case", money(plan.worst_case_cost())))
    service = plan.service_level()
    if service is not None:
        rows.append(("Service level (expected share served)", f"{100 * service:.2f}%"))
    share = plan.domestic_share()
    if share is not None:
        rows.append(("Domestic share of purchase value", f"{100 * share:.1f}%"))
    return _key_values("Plan", rows)


def sites_table(plan: Plan) -> Table:
    from reshore.optimizer.plan_files import site_decision  # the solver stack loads on use

    table = Table(title="Sites", title_justify="left")
    table.add_column("site", no_wrap=True)
    table.add_column("country", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    for row in plan.tables["sites"].itertuples(index=False):
        style = "" if row.status in ("open", "existing") else "dim"
        table.add_row(str(row.site), str(row.country), site_decision(row), style=style)
    return table


def tariff_table(plan: Plan) -> Table | None:
    """Expected nominal tariff spend by origin country, largest first (None when none)."""
    tariffs = plan.tariff_by_country()
    if tariffs.empty:
        return None
    probability = tariffs.scenario.map(plan.scenarios)
    expected = (tariffs.tariff_cost * probability).groupby(tariffs.origin_country).sum()
    expected = expected[expected > 0].sort_values(ascending=False)
    if expected.empty:
        return None
    table = Table(title="Tariff spend by origin", title_justify="left")
    table.add_column("origin", no_wrap=True)
    table.add_column("expected, nominal", justify="right", no_wrap=True)
    for country, value in expected.items():
        table.add_row(str(country), money(float(value)))
    return table


def model_table(plan: Plan, extra_timings: dict[str, float]) -> Table:
    """Model size and the time each stage took (`extra_timings`: the command's own stages,
    such as reading and checking, in the order to show them)."""
    size, t = plan.size, plan.timings
    stages = {"read and validate": extra_timings.get("read and validate"),
              "prepare": t.prepare, "build": t.build, "hand-off": t.handoff, "solve": t.solve,
              **{k: v for k, v in extra_timings.items() if k != "read and validate"}}
    rows = [("Variables", f"{size.variables:,} ({size.integer_variables:,} integer)"),
            ("Constraints", f"{size.constraints:,}"), ("Nonzeros", f"{size.nonzeros:,}")]
    if plan.scaling is not None:
        rows += [("Money unit", f"{plan.scaling.money_unit:g}")]
        rows += [(f"HiGHS sees: {part}", f"{span_text(handed)} (in currency {span_text(currency)})")
                 for part, handed, currency in ranges_by_part(plan.scaling)]
    rows += [(f"Time: {stage}", f"{seconds:.2f} s") for stage, seconds in stages.items()
             if seconds is not None]
    return _key_values("Model", rows)


def print_summary(console: Console, plan: Plan,
                  extra_timings: dict[str, float] | None = None) -> None:
    """Everything `reshore solve` prints about a plan (or about why there is none). The status
    and the diagnosis are printed unwrapped, one line each, so that they can be searched."""
    console.print(Text(status_line(plan), style="bold"), soft_wrap=True)
    for reason in plan.diagnosis:
        console.print(Text(f"  - {reason}"), soft_wrap=True)
    for warning in plan.warnings:
        console.print(Text(f"Warning: {warning}"), soft_wrap=True)
    tables: list[RenderableType] = []
    if plan.has_solution:
        tables += [figures_table(plan), sites_table(plan)]
        tariffs = tariff_table(plan)
        if tariffs is not None:
            tables.append(tariffs)
    tables.append(model_table(plan, extra_timings or {}))
    for table in tables:
        console.print()
        console.print(table)
