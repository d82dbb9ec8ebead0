"""First-stage decisions: which sites open (tier, period), which existing sites close, which
offers are qualified. Read from a plan, compared between plans in words, and imposed on a
solve (`SolveOptions.first_stage`) to evaluate fixed decisions or to force a site open.

The data contract can forbid a site (delete it) but cannot force one open or hold a plan's
openings, closings and qualifications; `impose_first_stage` does that on the built model by
setting the bounds of the first-stage variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pyomo.environ as pyo

from reshore.optimizer.results import Plan

SiteStatus = Literal["open", "not opened", "existing", "closed"]


@dataclass(frozen=True)
class SiteDecision:
    """One site's first-stage decision, as in the plan's `sites` table.

    `open` with tier and period None means "opens at some tier in some period"."""

    status: SiteStatus
    tier: str | None = None
    period: str | None = None
    """Opening period (status open) or closing period (status closed)."""

    def in_words(self) -> str:
        if self.status == "open":
            tier = f" {self.tier}" if self.tier else ""
            return f"opens{tier}" + (f" in {self.period}" if self.period else "")
        if self.status == "closed":
            return "closes" + (f" in {self.period}" if self.period else "")
        if self.status == "existing":
            return "kept"
        return "not opened"


@dataclass(frozen=True)
class FirstStage:
    """First-stage decisions to compare or impose; sites not named are left free.

    `qualified_offers` None leaves qualification free; a set qualifies exactly those offers
    (of the offers that need qualification)."""

    sites: dict[str, SiteDecision] = field(default_factory=dict)
    qualified_offers: frozenset[str] | None = None


def first_stage_of(plan: Plan) -> FirstStage:
    """The first-stage decisions a solved plan took."""
    sites: dict[str, SiteDecision] = {}
    for row in plan.tables["sites"].itertuples(index=False):
        status = str(row.status)
        if status == "open":
            sites[str(row.site)] = SiteDecision("open", str(row.tier), str(row.open_period))
        elif status == "closed":
            sites[str(row.site)] = SiteDecision("closed", None, str(row.close_period))
        elif status == "existing":
            sites[str(row.site)] = SiteDecision("existing")
        else:
            sites[str(row.site)] = SiteDecision("not opened")
    offers = frozenset(str(o) for o in plan.tables["qualifications"].offer)
    return FirstStage(sites=sites, qualified_offers=offers)


def _site_change(site: str, base: SiteDecision | None, other: SiteDecision | None) -> str | None:
    if base == other:
        return None
    if other is None:
        return f"{site} not available (base: {base.in_words() if base else '-'})"
    if base is None:
        return f"{site} {other.in_words()} (not in the base)"
    if base.status == other.status == "open":
        if base.tier == other.tier:
            return f"opens {site} {other.tier} in {other.period} instead of {base.period}"
        if base.period == other.period:
            return f"opens {site} {other.tier} instead of {base.tier} in {other.period}"
        return (f"opens {site} {other.tier} in {other.period} instead of {base.tier}"
                f" in {base.period}")
    if other.status == "open":
        return f"opens {site} {other.tier} in {other.period} (base: {base.in_words()})"
    if base.status == "open":
        return f"does not open {site} (base: {base.tier} in {base.period})"
    if other.status == "closed":
        if base.status == "closed":
            return f"closes {site} in {other.period} instead of {base.period}"
        return f"closes {site} in {other.period} (base: kept)"
    return f"keeps {site} (base: {base.in_words()})"


def differences_in_words(base: FirstStage, other: FirstStage) -> list[str]:
    """The first-stage decisions of `other` that differ from `base`, one phrase each."""
    phrases = []
    for site in [*base.sites, *(s for s in other.sites if s not in base.sites)]:
        phrase = _site_change(site, base.sites.get(site), other.sites.get(site))
        if phrase:
            phrases.append(phrase)
    before, after = base.qualified_offers or frozenset(), other.qualified_offers or frozenset()
    phrases += [f"qualifies offer {o}" for o in sorted(after - before)]
    phrases += [f"does not qualify offer {o}" for o in sorted(before - after)]
    return phrases


class DecisionNotAvailable(ValueError):  # noqa: N818 - reads as a domain answer
    """An imposed decision that the instance does not allow (e.g. a period before the site
    can be built)."""


def _hold(variable: Any, value: float) -> None:
    variable.setlb(value)
    variable.setub(value)


def impose_first_stage(model: Any, periods: list[str], decisions: FirstStage) -> None:
    """Hold the model's first-stage variables at the decisions (bounds lb = ub), and require
    a site that must open at an unspecified tier or period to open once."""
    openings: dict[str, list[tuple[str, str, int]]] = {}
    for key in model.OPENINGS:
        openings.setdefault(key[0], []).append(key)
    closings: dict[str, list[tuple[str, int]]] = {}
    for key in model.CLOSINGS:
        closings.setdefault(key[0], []).append(key)
    must_open: list[str] = []
    for site, decision in decisions.sites.items():
        if decision.status in ("open", "not opened"):
            keys = openings.get(site, [])
            wanted = [k for k in keys if decision.status == "open"
                      and (decision.tier is None or k[1] == decision.tier)
                      and (decision.period is None or periods[k[2]] == decision.period)]
            if decision.status == "open" and not wanted:
                raise DecisionNotAvailable(f"site '{site}' cannot {decision.in_words()}"
                                           " in this instance")
            for key in keys:
                if key not in wanted:
                    _hold(model.open[key], 0.0)
            if len(wanted) == 1:
                _hold(model.open[wanted[0]], 1.0)
            elif wanted:
                must_open.append(site)
        else:
            close_keys = closings.get(site, [])
            closing = [k for k in close_keys if decision.status == "closed"
                       and periods[k[1]] == decision.period]
            if decision.status == "closed" and not closing:
                raise DecisionNotAvailable(
                    f"site '{site}' cannot close in {decision.period} in this instance")
            for close_key in close_keys:
                _hold(model.close[close_key], 1.0 if close_key in closing else 0.0)
    if must_open:
        model.imposed_opening = pyo.Constraint(must_open, rule=lambda m, k: sum(
            m.open[key] for key in openings[k]
            if (decisions.sites[k].tier is None or key[1] == decisions.sites[k].tier)
            and (decisions.sites[k].period is None
                 or periods[key[2]] == decisions.sites[k].period)) == 1)
    if decisions.qualified_offers is not None:
        for offer in model.QUALIFIED_OFFERS:
            _hold(model.qualify[offer], 1.0 if offer in decisions.qualified_offers else 0.0)
