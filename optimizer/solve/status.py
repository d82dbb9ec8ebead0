"""From what HiGHS answered to the plan's status, and to a reason when there is no plan."""

from __future__ import annotations

from reshore.optimizer.results import PlanStatus

INFEASIBLE = ("Infeasible", "Primal infeasible or unbounded")
"""HiGHS model statuses that mean no plan meets every requirement."""


def plan_status(model_status: str, has_solution: bool) -> PlanStatus:
    """The plan status of a HiGHS model status (`modelStatusToString`)."""
    if model_status in INFEASIBLE:
        return PlanStatus.INFEASIBLE
    if model_status == "Interrupted by user":
        return PlanStatus.CANCELLED
    if not has_solution:
        return PlanStatus.NO_SOLUTION
    if model_status == "Optimal":
        return PlanStatus.OPTIMAL
    return PlanStatus.FEASIBLE


def no_solution_reason(model_status: str) -> str:
    """Why a solve that is not infeasible ended without a plan, in a planner's words."""
    if model_status == "Time limit reached":
        return "the time limit was reached before any feasible plan was found"
    if model_status == "Interrupted by user":
        return "the solve was stopped before any feasible plan was found"
    return f"HiGHS stopped without a plan: {model_status}"
