"""Why a model that must meet all demand has no feasible plan.

The elastic model (every demand may go unserved and every policy be violated, at a price;
`models.network_design.build(elastic=True)`) is solved for the least shortfall. Its site
decisions are then fixed and its LP solved once more: the rows with a non-zero dual are the
limits that, relaxed, would shrink the shortfall. The diagnosis names those first (site
capacity by period, supplier capacity, policies), then demand that no site or component can
reach in time (build and supplier lead times), and then the short demand, aggregated by
product and period.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import highspy
import numpy as np
import pandas as pd

from reshore.models import network_design
from reshore.models.built import BuiltModel, Limit
from reshore.optimizer.prepare import PreparedNetwork
from reshore.optimizer.results import QUANTITY_TOLERANCE
from reshore.optimizer.schema import ANY
from reshore.optimizer.solve.handoff import HandOff
from reshore.optimizer.solve.highs import HighsOutcome, run_highs
from reshore.optimizer.solve.options import SolveOptions

DUAL_TOLERANCE = 1e-7
"""Duals below this (per unit of the row) are solver noise, not a binding limit."""

TIGHT_TOLERANCE = 1e-7
"""A row whose activity is this close (relative) to its bound is at its limit."""

CUSTOMERS_NAMED = 5
"""A short-demand line names this many customers, the largest shortfalls first."""


@dataclass(frozen=True)
class Binding:
    """The rows of one limit that bind in the elastic model, by their index."""

    limit: Limit
    rows: list[dict[str, Any]]
    """Each binding row's index, by `Limit.key_columns`."""


def diagnose_infeasibility(data: PreparedNetwork, options: SolveOptions) -> list[str]:
    """Solve the elastic model and say, in business terms, what binds and what falls short."""
    built = network_design.build(data, elastic=True)
    outcome = run_highs(built, replace(options, progress=None, hold_back_rows=False,
                                       mip_start=None, construct_start=False,
                                       lp_guided_start=False))
    if not outcome.has_solution:
        return ["the model is infeasible and the elastic diagnosis found no answer"
                f" ({outcome.model_status})"]
    binding = binding_limits(built, outcome)
    return diagnose(built, data, binding)


def binding_limits(built: BuiltModel, outcome: HighsOutcome) -> list[Binding]:
    """Fix the elastic answer's integer decisions, solve the LP that is left, and return the
    limits whose rows have a non-zero dual there."""
    h, handoff = outcome.highs, outcome.handoff
    if outcome.values is None:
        return []
    integer = np.flatnonzero(np.fromiter((v.is_integer() for v in handoff.columns), bool,
                                         len(handoff.columns))).astype(np.int32)
    if integer.size:
        fixed = np.round(outcome.values[integer])
        h.changeColsIntegrality(integer.size, integer, np.zeros(integer.size, dtype=np.uint8))
        h.changeColsBounds(integer.size, integer, fixed, fixed)
        h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return []
    solution = h.getSolution()
    duals = np.asarray(solution.row_dual, dtype=float)
    activity = np.asarray(solution.row_value, dtype=float)
    lower = np.asarray(handoff.lp.row_lower_, dtype=float)
    upper = np.asarray(handoff.lp.row_upper_, dtype=float)
    tight = (np.abs(activity - np.where(np.isfinite(upper), upper, lower))
             <= TIGHT_TOLERANCE * (1.0 + np.abs(activity)))
    found = []
    for limit, lp_rows, keys in _limit_rows(built, handoff):
        wanted = tight[lp_rows] | (np.abs(duals[lp_rows]) > DUAL_TOLERANCE)
        candidates = [(bool(abs(duals[i]) > DUAL_TOLERANCE),
                       dict(zip(limit.key_columns, key, strict=True)))
                      for i, key in zip(lp_rows[wanted], _chosen(keys, wanted), strict=True)]
        binds = {_but_scenario(key) for has_dual, key in candidates if has_dual}
        rows = [key for has_dual, key in candidates if has_dual or _but_scenario(key) in binds]
        if rows:
            found.append(Binding(limit, rows))
    return found


def _chosen(keys: list[tuple[Any, ...]], wanted: np.ndarray) -> list[tuple[Any, ...]]:
    return [keys[i] for i in np.flatnonzero(wanted)]


def _limit_rows(built: BuiltModel, handoff: HandOff
                ) -> list[tuple[Limit, np.ndarray, list[tuple[Any, ...]]]]:
    """Each limit with its rows in the hand-off's lp and the index of each row (a Pyomo
    constraint's index, or the row of the limit's keys for a row block)."""
    pyomo_rows: dict[int, list[int]] = defaultdict(list)
    pyomo_keys: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for i, row in enumerate(handoff.constraint_rows):
        parent = id(row.parent_component())
        index = row.index()
        pyomo_rows[parent].append(i)
        pyomo_keys[parent].append(index if isinstance(index, tuple) else (index,))
    out = []
    for limit in built.limits:
        if limit.constraint is not None:
            out.append((limit, np.asarray(pyomo_rows[id(limit.constraint)], dtype=np.int64),
                        pyomo_keys[id(limit.constraint)]))
        elif limit.requirement in handoff.block_rows:
            keys = limit.row_keys()
            kept = handoff.block_rows[limit.requirement]
            out.append((limit, handoff.block_lp_rows(limit.requirement),
                        [keys[i] for i in kept]))
    return out


def _but_scenario(key: dict[str, Any]) -> tuple[Any, ...]:
    """A row's index without its scenario: scenarios tied by non-anticipativity share a dual
    in one of them only, so a limit that binds in one binds wherever its row is tight."""
    return tuple(value for column, value in key.items() if column != "scenario")


def diagnose(built: BuiltModel, data: PreparedNetwork, binding: list[Binding]) -> list[str]:
    """The solved elastic model in a planner's words: binding limits first, then demand that
    cannot arrive in time, then the short demand, aggregated."""
    unmet = pd.DataFrame(columns=["customer", "product", "period", "scenario", "quantity"])
    violated: dict[str, set[int]] = defaultdict(set)
    for slack in built.slacks:
        values = slack.family.solution()
        values = values[values.quantity > QUANTITY_TOLERANCE]
        if slack.requirement == "demand":
            unmet = values
        else:
            violated[slack.requirement] |= {int(i) for i in values.policy_row}
    findings: list[str] = []
    for found in binding:
        if found.limit.requirement == "site_capacity":
            findings += _site_capacity(built, data, found.rows)
        elif found.limit.requirement == "supplier_capacity":
            findings += _supplier_capacity(built, data, found.rows)
    findings += _policies(data, binding, violated)
    findings += _too_late(data, unmet)
    findings += _short_demand(data, unmet)
    if not findings:
        findings.append("the model is infeasible but no single demand or policy explains it")
    return findings


def _scenarios_text(scenarios: set[str], data: PreparedNetwork) -> str:
    if len(data.scenarios) == 1 or scenarios >= set(data.scenarios):
        return ""
    return f" (scenario(s) {', '.join(sorted(scenarios))})"


def _site_capacity(built: BuiltModel, data: PreparedNetwork,
                   rows: list[dict[str, Any]]) -> list[str]:
    """Per site: the periods whose assembly capacity binds, with the hours it has then."""
    operating = data.operating[["site", "tier", "period", "capacity_hours"]].assign(
        running=built.families["tier_operating"].solution().quantity.to_numpy())
    hours = (operating.capacity_hours * operating.running).groupby(
        [operating.site, operating.period]).sum().to_dict()
    by_site: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in rows:
        by_site[row["site"]][int(row["period"])].add(row["scenario"])
    findings = []
    for site, periods in sorted(by_site.items()):
        scenarios = set().union(*periods.values())
        closed = [data.periods[t] for t in sorted(periods) if hours.get((site, t), 0.0) <= 0]
        full = [f"{data.periods[t]} ({hours[site, t]:,.6g} h)" for t in sorted(periods)
                if hours.get((site, t), 0.0) > 0]
        if full:
            findings.append(f"binding: assembly capacity of site '{site}' is used in full in"
                            f" {', '.join(full)}{_scenarios_text(scenarios, data)}")
        if closed:
            findings.append(f"binding: site '{site}' does not operate in {', '.join(closed)}"
                            " (not opened, or closed) although demand needs it")
    return findings


def _supplier_capacity(built: BuiltModel, data: PreparedNetwork,
                       rows: list[dict[str, Any]]) -> list[str]:
    """Per offer: the order periods whose capacity binds (or that it is not qualified)."""
    offers = data.offers
    qualified = set(built.families["qualify"].solution().query("quantity > 0.5").offer)
    by_offer: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in rows:
        by_offer[row["offer"]][int(row["period"])].add(row["scenario"])
    findings = []
    for o, periods in sorted(by_offer.items()):
        scenarios = set().union(*periods.values())
        what = (f"offer '{o}' (supplier '{offers.supplier[o]}', component"
                f" '{offers.component[o]}')")
        when = ", ".join(data.periods[t] for t in sorted(periods))
        if offers.needs_qualification[o] and o not in qualified:
            findings.append(f"binding: {what} is not qualified, and demand needs it in {when}")
            continue
        capacities = sorted({data.offer_capacity.get((o, t), 0.0) for t in periods})
        findings.append(f"binding: {what} sells all of its capacity of"
                        f" {', '.join(f'{c:,.6g}' for c in capacities)} units per period for"
                        f" orders in {when}{_scenarios_text(scenarios, data)}")
    return findings


def _policies(data: PreparedNetwork, binding: list[Binding],
              violated: dict[str, set[int]]) -> list[str]:
    """Each policy row that cannot hold, or that holds at its limit and keeps demand short."""
    at_limit: dict[str, set[int]] = defaultdict(set)
    for found in binding:
        if "policy_row" in found.limit.key_columns:
            at_limit[found.limit.requirement] |= {int(row["policy_row"]) for row in found.rows}
    policies = data.policies.to_dict("index")
    findings = []
    for name in sorted(set(violated) | set(at_limit)):
        for i in sorted(violated[name] | at_limit[name]):
            row = policies[i]
            scope = "" if row["component"] == ANY else f" for component '{row['component']}'"
            where = f"policy {name}{scope} (policies row {i + 1}, value {row['value']:g})"
            if i in violated[name]:
                findings.append(f"{where} cannot be satisfied together with the other"
                                " requirements")
            else:
                findings.append(f"binding: {where} holds at its limit and keeps demand short")
    return findings


def _too_late(data: PreparedNetwork, unmet: pd.DataFrame) -> list[str]:
    """Short demand that no site, or no component, can reach in time: the build and supplier
    lead times (and transit) bind, aggregated by product and period."""
    if unmet.empty:
        return []
    earliest_delivery = data.shipments.groupby(["customer", "product"]).arrival.min().to_dict()
    earliest_part = data.purchases.groupby(["site", "component"]).arrival.min().to_dict()
    parts: dict[str, list[str]] = defaultdict(list)
    for product, component in data.bom[["product", "component"]].itertuples(index=False):
        parts[product].append(component)
    reasons: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    for j, p, t in unmet[["customer", "product", "period"]].drop_duplicates().itertuples(
            index=False):
        t = int(t)
        routes = data.lookups.deliveries.get((j, p, t), [])
        if not routes:
            first = earliest_delivery.get((j, p))
            reasons[p, t, "no site can deliver it in time: the first delivery possible is in"
                    f" {data.periods[int(first)]}" if first is not None else
                    "no site has a lane to the customer"].add(j)
            continue
        late = {c for c in parts[p] if all(earliest_part.get((k, c), np.inf) > t0
                                          for k, t0 in routes)}
        for c in sorted(late):
            first = min(earliest_part.get((k, c), np.inf) for k, _ in routes)
            when = data.periods[int(first)] if np.isfinite(first) else "never"
            reasons[p, t, f"component '{c}' cannot reach a site that could deliver in time"
                    f" (offers' lead_periods and transit: it arrives from {when})"].add(j)
    return [f"lead time: product '{p}' in {data.periods[t]}: {reason} (customer(s)"
            f" {', '.join(repr(j) for j in sorted(customers))})"
            for (p, t, reason), customers in sorted(reasons.items())]


def _short_demand(data: PreparedNetwork, unmet: pd.DataFrame) -> list[str]:
    """Short demand per product and period: the total (in the worst scenario), what was
    demanded, and the customers with the largest shortfalls."""
    if unmet.empty:
        return []
    demanded = data.demand.groupby(["product", "period", "scenario"]).quantity.sum()
    findings = []
    for (product, period), group in unmet.groupby(["product", "period"]):
        p, t = str(product), int(str(period))
        per_scenario = group.groupby("scenario").quantity.sum()
        worst = str(per_scenario.idxmax())
        customers = group.groupby("customer").quantity.max().sort_values(ascending=False)
        named = ", ".join(f"customer '{j}' {q:,.6g}"
                          for j, q in customers.head(CUSTOMERS_NAMED).items())
        more = len(customers) - CUSTOMERS_NAMED
        named += f" and {more} more customer(s)" if more > 0 else ""
        findings.append(
            f"short: product '{p}' in {data.periods[t]}: {per_scenario[worst]:,.6g} units"
            f" short of {demanded[p, t, worst]:,.6g} demanded"
            f"{_scenarios_text(set(per_scenario.index), data)}: {named}")
    return findings
