"""Rules of the data contract that span rows and tables, one function per rule.

Each rule returns the `ContractError`s it finds; `cross_table_errors` runs them all so the
user sees every problem at once. Row numbers are 1-based positions in the table.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

from reshore.optimizer.schema import (
    ANY,
    KEYS,
    NETWORK_WIDE_POLICIES,
    POLICY_VALUES,
    ContractError,
    Network,
    Row,
)

PROBABILITY_TOLERANCE = 1e-6


def _key(row: Row, columns: Sequence[str]) -> tuple[object, ...]:
    return tuple(getattr(row, column) for column in columns)


def _tables(network: Network) -> Iterable[tuple[str, list[Row]]]:
    for name in KEYS:
        rows = getattr(network, name)
        if rows is not None:
            yield name, rows


def duplicate_keys(network: Network) -> list[ContractError]:
    """Each table's key columns identify one row."""
    errors = []
    for name, rows in _tables(network):
        columns = KEYS[name]
        seen: dict[tuple[object, ...], int] = {}
        for number, row in enumerate(rows, start=1):
            key = _key(row, columns)
            if None in key:  # a missing key value is reported with the row's shape
                continue
            if key in seen:
                shown = ", ".join(f"{c}={v}" for c, v in zip(columns, key, strict=True))
                errors.append(
                    ContractError(name, number, columns[-1],
                                  f"duplicate key ({shown}); first given in row {seen[key]}")
                )
            else:
                seen[key] = number
    return errors


def unknown_references(network: Network) -> list[ContractError]:
    """Every id named in one table is defined in the table it refers to."""
    sites = {s.site for s in network.sites}
    products = {p.product for p in network.products}
    components = {c.component for c in network.components}
    suppliers = {s.supplier for s in network.suppliers}
    customers = {c.customer for c in network.customers}
    offers = {o.offer for o in network.offers}
    scenarios = {s.scenario for s in network.scenarios}
    periods = set(network.settings.periods)
    checks: list[tuple[str, str, set[str], str, bool]] = [
        # table, column, known ids, what they are, whether "*" is allowed
        ("site_tiers", "site", sites, "site", False),
        ("bom", "product", products, "product", False),
        ("bom", "component", components, "component", False),
        ("production_costs", "site", sites, "site", False),
        ("production_costs", "product", products, "product", False),
        ("offers", "supplier", suppliers, "supplier", False),
        ("offers", "component", components, "component", False),
        ("offer_capacities", "offer", offers, "offer", False),
        ("offer_capacities", "from_period", periods, "period", False),
        ("demand", "customer", customers, "customer", False),
        ("demand", "product", products, "product", False),
        ("demand", "period", periods, "period", False),
        ("demand", "scenario", scenarios, "scenario", True),
        ("lanes", "origin", suppliers | sites, "supplier or site", False),
        ("lanes", "destination", sites | customers, "site or customer", False),
        ("tariffs", "scenario", scenarios, "scenario", True),
        ("tariffs", "from_period", periods, "period", False),
        ("policies", "component", components, "component", True),
        ("sites", "earliest_open_period", periods, "period", False),
    ]
    errors = []
    for table, column, known, what, wildcard in checks:
        for number, row in enumerate(getattr(network, table) or [], start=1):
            value = getattr(row, column)
            if value is None or (wildcard and value == ANY) or value in known:
                continue
            errors.append(ContractError(table, number, column, f"unknown {what} '{value}'"))
    return errors


def lane_directions(network: Network) -> list[ContractError]:
    """Lanes run supplier -> site or site -> customer; other pairs are not modelled."""
    sites = {s.site for s in network.sites}
    suppliers = {s.supplier for s in network.suppliers}
    customers = {c.customer for c in network.customers}
    errors = []
    for number, lane in enumerate(network.lanes or [], start=1):
        if lane.origin in suppliers and lane.destination in customers:
            message = "a supplier cannot ship to a customer directly; route it through a site"
        elif lane.origin in sites and lane.destination in sites:
            message = "transfers between sites are not modelled"
        else:
            continue
        errors.append(ContractError("lanes", number, "destination", message))
    return errors


def places_have_distinct_ids(network: Network) -> list[ContractError]:
    """Sites, suppliers and customers are places that lanes join: an id names one place only,
    so that every lane's origin and destination are unambiguous."""
    first: dict[str, str] = {}
    errors = []
    places: list[tuple[str, str, Sequence[Row]]] = [
        ("suppliers", "supplier", network.suppliers), ("sites", "site", network.sites),
        ("customers", "customer", network.customers)]
    for table, column, rows in places:
        seen_here: set[str] = set()
        for number, row in enumerate(rows, start=1):
            name = getattr(row, column)
            if name is None or name in seen_here:
                continue
            seen_here.add(name)
            if name in first:
                errors.append(ContractError(table, number, column,
                                            f"'{name}' is already the id of one of the"
                                            f" {first[name]}; a place has one id of its own"))
            else:
                first[name] = table
    return errors


def site_tiers_per_status(network: Network) -> list[ContractError]:
    """Every site has a tier; an existing site runs at exactly one tier."""
    tiers = Counter(t.site for t in network.site_tiers)
    errors = []
    for number, site in enumerate(network.sites, start=1):
        count = tiers[site.site]
        if count == 0:
            errors.append(ContractError("sites", number, "site",
                                        f"site '{site.site}' has no row in site_tiers"))
        elif site.status == "existing" and count > 1:
            errors.append(ContractError(
                "sites", number, "status",
                f"existing site '{site.site}' has {count} tiers; it must have exactly one"))
    return errors


def probabilities_sum_to_one(network: Network) -> list[ContractError]:
    """Scenario probabilities are a distribution."""
    total = sum(s.probability for s in network.scenarios)
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        return [ContractError("scenarios", None, "probability",
                              f"probabilities sum to {total:.6g}, not 1")]
    return []


def horizon_settings(network: Network) -> list[ContractError]:
    """Period labels are unique and the committed window fits in the horizon."""
    settings = network.settings
    errors = []
    for label, count in Counter(settings.periods).items():
        if count > 1:
            errors.append(ContractError("settings", None, "periods",
                                        f"period '{label}' is listed {count} times"))
    if settings.commit_periods > len(settings.periods):
        errors.append(ContractError(
            "settings", None, "commit_periods",
            f"{settings.commit_periods} committed periods exceed the {len(settings.periods)}"
            " periods of the horizon"))
    return errors


def policy_values(network: Network) -> list[ContractError]:
    """Shares are fractions, counts are whole numbers, site limits name no component."""
    errors = []
    for number, policy in enumerate(network.policies, start=1):
        kind = POLICY_VALUES[policy.policy]
        if kind == "share" and policy.value > 1:
            errors.append(ContractError("policies", number, "value",
                                        f"{policy.policy} is a fraction and must be at most 1"))
        if kind == "count" and not policy.value.is_integer():
            errors.append(ContractError("policies", number, "value",
                                        f"{policy.policy} must be a whole number"))
        if policy.policy in NETWORK_WIDE_POLICIES and (
            policy.component != ANY or policy.country != ANY
        ):
            errors.append(ContractError("policies", number, "component",
                                        f"{policy.policy} applies to the whole network:"
                                        " component and country must be '*'"))
        if policy.policy == "min_suppliers" and policy.country != ANY:
            errors.append(ContractError("policies", number, "country",
                                        "min_suppliers counts suppliers of every country:"
                                        " country must be '*'"))
    return errors


def coordinates_when_lanes_absent(network: Network) -> list[ContractError]:
    """Without a lanes table, distances need every location's lat and lon."""
    if network.lanes is not None:
        return []
    errors = []
    located: list[tuple[str, Sequence[Row]]] = [
        ("sites", network.sites), ("suppliers", network.suppliers),
        ("customers", network.customers)]
    for table, rows in located:
        for number, row in enumerate(rows, start=1):
            for column in ("lat", "lon"):
                if getattr(row, column) is None:
                    errors.append(ContractError(
                        table, number, column,
                        "required when the lanes table is absent (distances are great-circle)"))
    return errors


def every_demand_has_a_path(network: Network) -> list[ContractError]:
    """Each demanded product can reach its customer: a site with a lane to the customer and,
    for every component of the product, an offer with a lane to that site. The error names
    what is missing: the customer no site reaches, or the components no offer brings to a
    site that reaches the customer."""
    sites = [s.site for s in network.sites]
    allowed: set[tuple[str, str]] | None = None
    if network.lanes is not None:
        allowed = {(lane.origin, lane.destination) for lane in network.lanes}

    def lane(origin: str, destination: str) -> bool:
        return allowed is None or (origin, destination) in allowed

    suppliers_by_component: dict[str, list[str]] = defaultdict(list)
    for offer in network.offers:
        suppliers_by_component[offer.component].append(offer.supplier)
    bom: dict[str, list[str]] = defaultdict(list)
    for line in network.bom:
        bom[line.product].append(line.component)

    def supplied_at(site: str, component: str) -> bool:
        return any(lane(supplier, site) for supplier in suppliers_by_component[component])

    errors = []
    reported: set[tuple[str, str]] = set()
    for number, row in enumerate(network.demand, start=1):
        if row.quantity <= 0 or (row.customer, row.product) in reported:
            continue
        reaching = [site for site in sites if lane(site, row.customer)]
        if any(all(supplied_at(site, c) for c in bom[row.product]) for site in reaching):
            continue
        reported.add((row.customer, row.product))
        missing = _missing_link(row.customer, reaching, bom[row.product],
                                suppliers_by_component, supplied_at)
        errors.append(ContractError("demand", number, "product",
                                    f"no possible path to customer '{row.customer}' for product"
                                    f" '{row.product}': {missing}"))
    return errors


def _missing_link(customer: str, reaching: list[str], components: list[str],
                  suppliers_by_component: dict[str, list[str]],
                  supplied_at: Callable[[str, str], bool]) -> str:
    """What a demand lacks: a site reaching the customer, or components reaching such a site."""
    if not reaching:
        return f"no site has a lane to customer '{customer}'"
    shown = ", ".join(f"'{site}'" for site in reaching[:5]) + (
        f" and {len(reaching) - 5} more" if len(reaching) > 5 else "")
    missing = []
    for component in components:
        if not suppliers_by_component[component]:
            missing.append(f"component '{component}' has no offer")
        elif not any(supplied_at(site, component) for site in reaching):
            missing.append(f"no offer of component '{component}' has a lane to a site that"
                           f" reaches the customer ({shown})")
    if missing:
        return "; ".join(missing)
    return (f"no single site that reaches the customer ({shown}) gets every component of the"
            " product: " + ", ".join(f"'{c}'" for c in components))


RULES: tuple[Callable[[Network], list[ContractError]], ...] = (
    duplicate_keys,
    unknown_references,
    lane_directions,
    places_have_distinct_ids,
    site_tiers_per_status,
    probabilities_sum_to_one,
    horizon_settings,
    policy_values,
    coordinates_when_lanes_absent,
)


def components_in_no_bom_row(network: Network) -> list[str]:
    """Warnings, not errors: components that no BOM row uses are never bought (an empty or
    forgotten bom table shows up this way)."""
    used = {line.component for line in network.bom}
    unused = [c.component for c in network.components if c.component not in used]
    if not unused:
        return []
    shown = ", ".join(f"'{c}'" for c in unused[:5]) + (
        f" and {len(unused) - 5} more" if len(unused) > 5 else "")
    return [f"component(s) {shown} in no bom row: no product uses them, so they are never"
            " bought"]


def cross_table_errors(network: Network) -> list[ContractError]:
    """Every cross-table rule; the path rule runs only on references that resolve."""
    errors = [error for rule in RULES for error in rule(network)]
    if not errors:
        errors = every_demand_has_a_path(network)
    return errors
