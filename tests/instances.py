"""Tiny instances whose optimum is worked out by hand in each docstring."""

from __future__ import annotations

from typing import Any


def lanes(*pairs: tuple[str, str, float]) -> list[dict[str, Any]]:
    return [{"origin": o, "destination": d, "cost_per_unit": c} for o, d, c in pairs]


def two_site_transport(opening_b: float = 150.0, capacity: float = 200.0) -> dict[str, Any]:
    """Sites A (opening 50) and B (opening `opening_b`), capacity `capacity` each; customers X
    and Y want 60 units each; lane costs A->X 1, A->Y 3, B->X 2, B->Y 1.

    With B at 150 and capacity 200: A alone 50 + 60 + 180 = 290; B alone 150 + 120 + 60 = 330;
    both 200 + 60 + 60 = 320. Optimum 290, only A opens.
    With capacity 100 neither site serves 120 alone: both open, 50 + 150 + 120 = 320.
    """
    return {
        "settings": {"periods": ["P1"]},
        "sites": [{"site": "A", "country": "US"}, {"site": "B", "country": "US"}],
        "site_tiers": [
            {"site": "A", "tier": "std", "capacity_hours": capacity, "opening_cost": 50},
            {"site": "B", "tier": "std", "capacity_hours": capacity, "opening_cost": opening_b},
        ],
        "products": [{"product": "rack", "assembly_hours": 1}],
        "customers": [{"customer": "X", "country": "US"}, {"customer": "Y", "country": "US"}],
        "demand": [{"customer": "X", "product": "rack", "period": "P1", "quantity": 60},
                   {"customer": "Y", "product": "rack", "period": "P1", "quantity": 60}],
        "lanes": lanes(("A", "X", 1), ("A", "Y", 3), ("B", "X", 2), ("B", "Y", 1)),
    }


def tier_choice(demand: float) -> dict[str, Any]:
    """One candidate site with tiers small (50 h, opening 100) and large (150 h, opening 180);
    one product of 1 h; unmet demand costs 10 per unit.

    Demand 40: small 100, large 180, none 400 -> small, 100.
    Demand 120: small 100 + 70 x 10 = 800, large 180, none 1200 -> large, 180.
    """
    return {
        "settings": {"periods": ["P1"], "unmet_penalty": 10},
        "sites": [{"site": "S", "country": "US"}],
        "site_tiers": [
            {"site": "S", "tier": "small", "capacity_hours": 50, "opening_cost": 100},
            {"site": "S", "tier": "large", "capacity_hours": 150, "opening_cost": 180},
        ],
        "products": [{"product": "rack", "assembly_hours": 1}],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "rack", "period": "P1", "quantity": demand}],
        "lanes": lanes(("S", "C", 0)),
    }


def tariff_flip(tw_rate_in_war: float = 0.25) -> dict[str, Any]:
    """An existing US site makes 10 widgets, one chip each, for a US customer. Chips cost 10
    from Taiwan, 11 from Mexico. Scenario `calm` (p 0.5) has no tariff; in `war` (p 0.5) chips
    from Taiwan pay `tw_rate_in_war` (25 % -> 12.5 a chip, so Mexico wins). Nothing is
    committed, so each scenario sources on its own: calm 100, war 110, expected 105.
    """
    return {
        "settings": {"periods": ["P1"], "commit_periods": 0},
        "sites": [{"site": "S", "country": "US", "status": "existing"}],
        "site_tiers": [{"site": "S", "tier": "only", "capacity_hours": 1000}],
        "products": [{"product": "widget", "assembly_hours": 1}],
        "components": [{"component": "chip", "tariff_class": "semis"}],
        "bom": [{"product": "widget", "component": "chip", "quantity": 1}],
        "suppliers": [{"supplier": "tw_fab", "country": "TW"},
                      {"supplier": "mx_fab", "country": "MX"}],
        "offers": [
            {"offer": "chip_tw", "supplier": "tw_fab", "component": "chip", "unit_price": 10},
            {"offer": "chip_mx", "supplier": "mx_fab", "component": "chip", "unit_price": 11},
        ],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "widget", "period": "P1", "quantity": 10}],
        "lanes": lanes(("tw_fab", "S", 0), ("mx_fab", "S", 0), ("S", "C", 0)),
        "scenarios": [{"scenario": "calm", "probability": 0.5},
                      {"scenario": "war", "probability": 0.5}],
        "tariffs": [{"scenario": "war", "origin_country": "TW", "destination_country": "US",
                     "tariff_class": "semis", "rate": tw_rate_in_war}],
    }


def bom_with_lead_time() -> dict[str, Any]:
    """A rack takes 2 trays. Trays from Taiwan cost 5 but arrive one period after the order;
    local trays cost 40 and arrive at once. Demand: 3 racks in P1, 10 in P2; unmet costs 100.

    P1 can only use local trays: 6 x 40 = 240 (cheaper than 3 x 100 unmet). P2 uses 20
    Taiwanese trays ordered in P1: 100. Optimum 340.
    """
    return {
        "settings": {"periods": ["P1", "P2", "P3"], "unmet_penalty": 100},
        "sites": [{"site": "S", "country": "US", "status": "existing"}],
        "site_tiers": [{"site": "S", "tier": "only", "capacity_hours": 1000}],
        "products": [{"product": "rack", "assembly_hours": 1}],
        "components": [{"component": "tray"}],
        "bom": [{"product": "rack", "component": "tray", "quantity": 2}],
        "suppliers": [{"supplier": "tw", "country": "TW"}, {"supplier": "us", "country": "US"}],
        "offers": [
            {"offer": "tray_tw", "supplier": "tw", "component": "tray", "unit_price": 5,
             "lead_periods": 1},
            {"offer": "tray_us", "supplier": "us", "component": "tray", "unit_price": 40},
        ],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "rack", "period": "P1", "quantity": 3},
                   {"customer": "C", "product": "rack", "period": "P2", "quantity": 10}],
        "lanes": lanes(("tw", "S", 0), ("us", "S", 0), ("S", "C", 0)),
    }


def risk_choice(measure: str, weight: float = 1.0) -> dict[str, Any]:
    """A US and a Mexican candidate site (opening 100 each) can serve 100 racks (value 10) for
    a US customer. Making a rack costs 1 in the US, 0 in Mexico. In scenario `erosion`
    (p 0.2) racks from Mexico pay 25 %: 250 in all.

    Mexico: 100 in `base`, 350 in `erosion`, expected 150. US: 200 in both.
    expected -> Mexico (150); CVaR at 0.9 (the worst 10 % is all `erosion`) -> US (200);
    worst case -> US (200).
    """
    return {
        "settings": {"periods": ["P1"],
                     "risk": {"measure": measure, "alpha": 0.9, "weight": weight}},
        "sites": [{"site": "us_site", "country": "US"}, {"site": "mx_site", "country": "MX"}],
        "site_tiers": [
            {"site": "us_site", "tier": "std", "capacity_hours": 100, "opening_cost": 100},
            {"site": "mx_site", "tier": "std", "capacity_hours": 100, "opening_cost": 100},
        ],
        "products": [{"product": "rack", "assembly_hours": 1, "unit_value": 10,
                      "tariff_class": "server"}],
        "production_costs": [{"site": "us_site", "product": "rack", "cost_per_unit": 1},
                             {"site": "mx_site", "product": "rack", "cost_per_unit": 0}],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "rack", "period": "P1", "quantity": 100}],
        "lanes": lanes(("us_site", "C", 0), ("mx_site", "C", 0)),
        "scenarios": [{"scenario": "base", "probability": 0.8},
                      {"scenario": "erosion", "probability": 0.2}],
        "tariffs": [{"scenario": "erosion", "origin_country": "MX", "destination_country": "US",
                     "rate": 0.25}],
    }


def short_capacity(penalty: float | None) -> dict[str, Any]:
    """An existing site of 50 hours; customer C wants 80 units of 1 hour each. With a penalty
    of 10, 30 units go unmet: 300. Without a penalty the demand cannot be met: infeasible."""
    settings: dict[str, Any] = {"periods": ["P1"]}
    if penalty is not None:
        settings["unmet_penalty"] = penalty
    return {
        "settings": settings,
        "sites": [{"site": "S", "country": "US", "status": "existing"}],
        "site_tiers": [{"site": "S", "tier": "only", "capacity_hours": 50}],
        "products": [{"product": "rack", "assembly_hours": 1}],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [{"customer": "C", "product": "rack", "period": "P1", "quantity": 80}],
        "lanes": lanes(("S", "C", 0)),
    }


def capacity_gamble() -> dict[str, Any]:
    """One candidate site S, tiers small (50 h, opening 100) and large (150 h, opening 180);
    one product of 1 h; unmet demand costs 10 a unit; nothing committed. Scenario `calm`
    (p 0.7) wants 0 units, `boom` (p 0.3) wants 100.

    EV (demand 0.3 x 100 = 30): small 100, large 180, none 300 -> small, ev = 100.
    RP: small 100 + 0.3 x 50 x 10 = 250; large 180; none 0.3 x 1000 = 300 -> large, rp = 180.
    EEV (small held): calm 100, boom 100 + 500 = 600 -> 0.7 x 100 + 0.3 x 600 = 250.
    WS: calm alone opens nothing (0); boom alone opens large (180) -> ws = 0.3 x 180 = 54.
    EVPI = 180 - 54 = 126; VSS = 250 - 180 = 70.
    """
    return {
        "settings": {"periods": ["P1"], "unmet_penalty": 10, "commit_periods": 0},
        "sites": [{"site": "S", "country": "US"}],
        "site_tiers": [
            {"site": "S", "tier": "small", "capacity_hours": 50, "opening_cost": 100},
            {"site": "S", "tier": "large", "capacity_hours": 150, "opening_cost": 180},
        ],
        "products": [{"product": "rack", "assembly_hours": 1}],
        "customers": [{"customer": "C", "country": "US"}],
        "demand": [
            {"customer": "C", "product": "rack", "period": "P1", "quantity": 0,
             "scenario": "calm"},
            {"customer": "C", "product": "rack", "period": "P1", "quantity": 100,
             "scenario": "boom"},
        ],
        "lanes": lanes(("S", "C", 0)),
        "scenarios": [{"scenario": "calm", "probability": 0.7},
                      {"scenario": "boom", "probability": 0.3}],
    }
