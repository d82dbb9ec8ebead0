"""Why a model that must meet all demand has no feasible plan: the elastic model (every
demand and policy may be violated, at a price) is solved, and its slacks are read back in
business terms."""

from __future__ import annotations

from dataclasses import replace

from reshore.models import network_design
from reshore.models.built import BuiltModel
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.results import QUANTITY_TOLERANCE
from reshore.optimizer.schema import ANY
from reshore.optimizer.solve.highs import run_highs
from reshore.optimizer.solve.options import SolveOptions


def diagnose_infeasibility(data: PreparedNetwork, options: SolveOptions) -> list[str]:
    """Solve the elastic model and say, in business terms, what cannot be met."""
    built = network_design.build(data, elastic=True)
    outcome = run_highs(built, replace(options, progress=None))
    if not outcome.has_solution:
        return ["the model is infeasible and the elastic diagnosis found no answer"
                f" ({outcome.model_status})"]
    return diagnose(built, data)


def diagnose(built: BuiltModel, data: PreparedNetwork) -> list[str]:
    """Read the solved elastic model's slacks: each unmet demand and violated policy."""
    periods = data.periods
    findings: list[str] = []
    policies = data.policies.to_dict("index")
    for slack in built.slacks:
        values = slack.family.solution()
        values = values[values.quantity > QUANTITY_TOLERANCE]
        if slack.requirement == "demand":
            for (customer, product, t), group in values.groupby(
                    ["customer", "product", "period"]):
                scenarios = ", ".join(sorted(group.scenario))
                findings.append(
                    f"demand of customer '{customer}' for product '{product}' in"
                    f" {periods[int(str(t))]} cannot be met in full:"
                    f" {group.quantity.max():,.6g} units short (scenario(s) {scenarios});"
                    " site capacity, build lead times, supplier capacity or lanes do not allow"
                    " it")
            continue
        for i in sorted(set(values.policy_row)):
            row = policies[int(i)]
            scope = "" if row["component"] == ANY else f" for component '{row['component']}'"
            findings.append(f"policy {slack.requirement}{scope} (policies row {int(i) + 1},"
                            f" value {row['value']:g}) cannot be satisfied together with the"
                            " other requirements")
    if not findings:
        findings.append("the model is infeasible but no single demand or policy explains it")
    return findings
