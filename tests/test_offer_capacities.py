"""Offer capacities by period (the offer_capacities table): the model and the checker read
the same step function, bad rows are contract errors naming table, row and column, old
inputs keep their form and hash, the readers and writers carry the table, and what-if
changes can target it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reshore.optimizer.check import check
from reshore.optimizer.io import load_network, write_csv_folder, write_xlsx
from reshore.optimizer.schema import ContractError, InvalidNetwork, parse_network
from reshore.optimizer.solve import input_hash
from reshore.optimizer.variants import apply_variant, expand_all, parse_variants
from tests.conftest import solve_checked
from tests.test_replan_commitments import sourced

STEPS = [{"offer": "oA", "from_period": "P2", "capacity_per_period": 10},
         {"offer": "oA", "from_period": "P4", "capacity_per_period": 60}]
"""oA: 40 in P1 (its offer row), 10 in P2 and P3, 60 in P4."""


def bought(plan: Any) -> dict[tuple[str, str], float]:
    frame = plan.tables["sourcing"]
    frame = frame[frame.quantity > 1e-9]
    return {(str(o), str(t)): float(q) for o, t, q in
            frame[["offer", "period", "quantity"]].itertuples(index=False, name=None)}


def test_capacity_steps_bind_period_by_period() -> None:
    """50 chips a period; oA (1 a chip) holds 40, 10, 10, 60 units in P1..P4, oB costs 3.
    Buying ahead from oA costs 1 + 1 holding a period, but oA has no spare unit before P4:
    oA 40 + 10 + 10 + 50 = 110 chips, oB 10 + 40 + 40 = 90 chips; 2,000 + 110 + 270 =
    2,380."""
    plan = solve_checked(sourced(STEPS, capacity_a=40))
    assert plan.objective == pytest.approx(2380)
    assert bought(plan) == pytest.approx({
        ("oA", "P1"): 40, ("oA", "P2"): 10, ("oA", "P3"): 10, ("oA", "P4"): 50,
        ("oB", "P1"): 10, ("oB", "P2"): 40, ("oB", "P3"): 40})


def test_the_checker_reads_the_capacity_of_each_period() -> None:
    """The plan without steps buys 50 from oA in every period: against the steps that is
    over capacity in P1 (40), P2 and P3 (10), and within it in P4 (60)."""
    plan = solve_checked(sourced())
    network = parse_network(sourced(STEPS, capacity_a=40))
    over = {v.where for v in check(network, plan).violations if v.rule == "supplier_capacity"}
    assert over == {"offer oA P1 base", "offer oA P2 base", "offer oA P3 base"}
    assert check(parse_network(sourced()), plan).ok


def errors_of(raw: dict[str, Any]) -> list[ContractError]:
    with pytest.raises(InvalidNetwork) as caught:
        parse_network(raw)
    return caught.value.errors


def test_bad_rows_are_located_errors() -> None:
    shapes = errors_of(sourced([
        {"offer": "oA", "from_period": "P2", "capacity_per_period": -5},
        {"offer": "oA", "from_period": "P3"},
        {"offer": "oA", "from_period": "P4", "capacity_per_period": 1, "capacity": 2}]))
    found = {(e.table, e.row, e.column): e.message for e in shapes}
    assert found[("offer_capacities", 1, "capacity_per_period")] == (
        "must be at least 0 (got -5)")
    assert found[("offer_capacities", 2, "capacity_per_period")] == "required value is missing"
    assert found[("offer_capacities", 3, "capacity")].startswith("unknown column")
    references = errors_of(sourced([
        {"offer": "oZ", "from_period": "P2", "capacity_per_period": 0},
        {"offer": "oA", "from_period": "P9", "capacity_per_period": 0},
        {"offer": "oB", "from_period": "P2", "capacity_per_period": 0},
        {"offer": "oB", "from_period": "P2", "capacity_per_period": 5}]))
    found = {(e.table, e.row, e.column): e.message for e in references}
    assert found == {
        ("offer_capacities", 1, "offer"): "unknown offer 'oZ'",
        ("offer_capacities", 2, "from_period"): "unknown period 'P9'",
        ("offer_capacities", 4, "from_period"): (
            "duplicate key (offer=oB, from_period=P2); first given in row 3")}


def test_an_instance_without_the_table_keeps_its_form_and_hash() -> None:
    """The table is optional: an old input reads as before, its JSON form has no
    offer_capacities key (so its hash is unchanged), and an empty table changes nothing."""
    old = parse_network(sourced())
    assert "offer_capacities" not in old.to_tables()
    assert input_hash(parse_network(sourced([]))) == input_hash(old)
    assert parse_network(sourced(STEPS)).to_tables()["offer_capacities"] == STEPS


@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_the_table_survives_the_writers_and_readers(tmp_path: Path, form: str) -> None:
    network = parse_network(sourced(STEPS, capacity_a=40))
    path = write_csv_folder(network, tmp_path / "csv") if form == "csv" else write_xlsx(
        network, tmp_path / "instance.xlsx")
    assert load_network(path).offer_capacities == network.offer_capacities


def test_what_if_changes_target_the_table() -> None:
    """An outage appended as a change, a capacity scaled, and an offer deleted with its
    capacity rows (the notes say so)."""
    network = parse_network(sourced(STEPS, capacity_a=40))

    def changed(*changes: dict[str, Any]) -> Any:
        variants = parse_variants({"variants": [{"name": "v", "changes": list(changes)}]})
        return apply_variant(network, expand_all(variants)[0])

    appended = changed({"table": "offer_capacities", "append": [
        {"offer": "oB", "from_period": "P3", "capacity_per_period": 0}]}).network
    assert [(r.offer, r.from_period) for r in appended.offer_capacities] == [
        ("oA", "P2"), ("oA", "P4"), ("oB", "P3")]
    scaled = changed({"table": "offer_capacities", "where": {"from_period": "P4"},
                      "scale": {"capacity_per_period": 0.5}}).network
    assert [r.capacity_per_period for r in scaled.offer_capacities] == [10, 30]
    deleted = changed({"table": "offers", "where": {"offer": "oA"}, "delete": True})
    assert deleted.network.offer_capacities == []
    assert deleted.notes == ["deleting offers oA also deleted 2 offer_capacities row(s)"
                             " naming it in column offer"]
