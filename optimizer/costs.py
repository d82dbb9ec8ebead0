"""What one unit of each decision costs, by cost category and scenario.

The model's objective and the plan's cost tables both come from these frames, so the two
always agree; the independent checker (`optimizer.check`) prices the plan again from the
input tables alone.

Timing: purchases pay price and inbound transport when ordered and the tariff when they
enter the destination country (their arrival period, at that period's rate); shipments pay
transport when they leave and the tariff when they arrive; holding is charged on each
period's closing stock; every amount is discounted at the period it is paid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reshore.optimizer.prepare import PreparedNetwork

CATEGORIES = (
    "opening", "closing", "qualification", "fixed", "purchase", "inbound_transport",
    "component_tariff", "production", "outbound_transport", "product_tariff", "holding",
    "unmet_penalty",
)
"""Cost categories of the costs table, in reporting order."""

KEYS = {
    "buy": ["offer", "site", "period", "scenario"],
    "make": ["site", "product", "period", "scenario"],
    "ship": ["site", "customer", "product", "period", "scenario"],
    "component_stock": ["site", "component", "period", "scenario"],
    "product_stock": ["site", "product", "period", "scenario"],
    "unmet": ["customer", "product", "period", "scenario"],
}
"""Index columns of each second-stage decision family."""

ONE_TIME = {"open": "opening", "close": "closing", "qualify": "qualification"}
"""The first-stage families that pay a one-time cost (capex, not discounted), and the cost
category each pays."""


@dataclass(frozen=True)
class UnitCosts:
    """Discounted cost per unit of each decision, split into categories."""

    fixed: dict[tuple[str, str, int], float]
    """(site, tier, period) -> discounted fixed cost while the tier operates."""
    frames: dict[str, pd.DataFrame]
    """family -> frame of its KEYS columns plus one column per category it pays, one row per
    member of the family in the model's order (the prepared frame's rows, scenarios
    innermost; demand's rows for unmet)."""
    one_time: dict[str, np.ndarray]
    """family of ONE_TIME -> one-time cost of each member, in the family's order (openings,
    closings, and the offers that need qualification, as prepared): capex, written once for
    the model's cost rows, its capex budget and the plan's cost table."""

    @property
    def per_scenario(self) -> dict[str, dict[tuple[object, ...], float]]:
        """family -> {key: total discounted cost per unit} for the objective."""
        out = {}
        for family, frame in self.frames.items():
            keys = KEYS[family]
            total = frame.drop(columns=keys).sum(axis=1)
            out[family] = dict(zip(frame[keys].itertuples(index=False, name=None),
                                   total.tolist(), strict=True))
        return out


def _scenarios(frame: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    return frame.merge(pd.DataFrame({"scenario": scenarios}), how="cross")


def unit_costs(data: PreparedNetwork) -> UnitCosts:
    """Price every decision of a prepared network."""
    d = data.discount
    S = data.scenarios

    def at(periods: pd.Series) -> np.ndarray:
        """Discount factor of each period in `periods`."""
        return np.asarray(d[np.asarray(periods, dtype=int)])

    buy = _scenarios(data.purchases, S).assign(
        tariff_per_unit=data.purchase_tariffs.tariff_per_unit.to_numpy(dtype=float))
    buy = buy.assign(purchase=at(buy.period) * buy.unit_price,
                     inbound_transport=at(buy.period) * buy.transport_cost_per_unit,
                     component_tariff=at(buy.arrival) * buy.tariff_per_unit)

    make = _scenarios(data.production, S)
    make = make.assign(production=at(make.period) * make.cost_per_unit)

    ship = _scenarios(data.shipments, S).assign(
        tariff_per_unit=data.shipment_tariffs.tariff_per_unit.to_numpy(dtype=float))
    ship = ship.assign(outbound_transport=at(ship.period) * ship.transport_cost_per_unit,
                       product_tariff=at(ship.arrival) * ship.tariff_per_unit)

    holding_c = data.components.set_index("component").holding_cost_per_period
    component_stock = _scenarios(data.component_stock, S)
    component_stock = component_stock.assign(
        holding=at(component_stock.period) * component_stock.component.map(holding_c))
    holding_p = data.products.set_index("product").holding_cost_per_period
    product_stock = _scenarios(data.product_stock, S)
    product_stock = product_stock.assign(
        holding=at(product_stock.period) * product_stock["product"].map(holding_p))

    unmet = data.demand[KEYS["unmet"]].copy()
    unmet["unmet_penalty"] = at(unmet.period) * (data.unmet_penalty or 0.0)

    frames = {
        "buy": buy[KEYS["buy"] + ["purchase", "inbound_transport", "component_tariff"]],
        "make": make[KEYS["make"] + ["production"]],
        "ship": ship[KEYS["ship"] + ["outbound_transport", "product_tariff"]],
        "component_stock": component_stock[KEYS["component_stock"] + ["holding"]],
        "product_stock": product_stock[KEYS["product_stock"] + ["holding"]],
        "unmet": unmet,
    }
    operating = data.operating
    fixed = dict(zip(operating[["site", "tier", "period"]].itertuples(index=False, name=None),
                     (at(operating.period) * operating.fixed_cost_per_period).tolist(),
                     strict=True))
    return UnitCosts(fixed=fixed, frames=frames, one_time=one_time_costs(data))


def one_time_costs(data: PreparedNetwork) -> dict[str, np.ndarray]:
    """Capex: the one-time cost of each member of the ONE_TIME families (see
    `UnitCosts.one_time`)."""
    offers = data.offers
    return {
        "open": data.openings.opening_cost.to_numpy(dtype=float),
        "close": data.closings.closing_cost.to_numpy(dtype=float),
        "qualify": offers.qualification_cost[offers.needs_qualification].to_numpy(dtype=float),
    }
