"""Row blocks (models.linear_rows) hand HiGHS exactly the rows of the same families written
the plain Pyomo way (tests/reference_rules.py), and exactly the rows Pyomo's own compiler
makes of the blocks turned back into constraints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
import scipy.sparse as sp

from reshore.data import flagship_path
from reshore.data.synthetic import generate
from reshore.models import network_design
from reshore.models.built import BuiltModel
from reshore.models.linear_rows import as_constraint
from reshore.optimizer.io import load_network
from reshore.optimizer.prepare import prepare
from reshore.optimizer.schema import Network, Policy
from reshore.optimizer.solve import to_highs_lp
from tests.reference_rules import RULES


def _rows(built: BuiltModel) -> Counter[tuple[Any, ...]]:
    """Every row of the compiled model as (lower, upper, sorted (variable, coefficient)),
    independent of row and column order. A row is the same row negated: its sign is the one
    that makes its first term positive (Pyomo's compiler writes `0 == a x` as `a x = 0` but
    `b y == a x` as `b y - a x = 0`, and `0 <= a x` as `a x >= 0`)."""
    handoff = to_highs_lp(built)
    lp, columns, held = handoff.lp, handoff.columns, handoff.held
    assert held.upper.size == 0
    names = [v.name for v in columns]
    matrix = lp.a_matrix_
    csc = (np.asarray(matrix.value_), np.asarray(matrix.index_), np.asarray(matrix.start_))
    csr = sp.csc_matrix(csc, shape=(lp.num_row_, lp.num_col_)).tocsr()
    out: Counter[tuple[Any, ...]] = Counter()
    for i in range(lp.num_row_):
        start, end = csr.indptr[i], csr.indptr[i + 1]
        terms = sorted((names[j], round(float(a), 9))
                       for j, a in zip(csr.indices[start:end], csr.data[start:end], strict=True)
                       if a != 0)
        lower, upper = round(lp.row_lower_[i], 6), round(lp.row_upper_[i], 6)
        if terms and terms[0][1] < 0:
            terms = [(name, -a) for name, a in terms]
            lower, upper = -upper, -lower
        out[(lower, upper, *terms)] += 1
    return out


def _blocks_replaced(data: Any, constraint: Callable[[BuiltModel, str, Any], Any]
                     ) -> BuiltModel:
    """The model with each row block replaced by `constraint(built, name, block)`."""
    built = network_design.build(data)
    for name, block in built.blocks.items():
        built.model.add_component(f"{name}_as_constraint", constraint(built, name, block))
    built.blocks.clear()
    return built


def _with_reference_rules(data: Any) -> BuiltModel:
    return _blocks_replaced(data, lambda built, name, _: RULES[name](built.model, data))


def _with_outbound_transit(network: Network) -> Network:
    """The network with every other site -> customer lane one period long."""
    sites = {site.site for site in network.sites}
    lanes = list(network.lanes or [])
    outbound = [i for i, lane in enumerate(lanes) if lane.origin in sites]
    for i in outbound[::2]:
        lanes[i] = lanes[i].model_copy(update={"transit_periods": 1})
    return network.model_copy(update={"lanes": lanes})


def _with_supplier_shares_and_all_demand_met(network: Network) -> Network:
    """The network with a supplier share policy and no price on unmet demand (so a
    single-sourced customer's shipments are equalities)."""
    policies = [*network.policies,
                Policy(policy="max_supplier_share", component="*", country="*", value=0.7)]
    settings = network.settings.model_copy(update={"unmet_penalty": None})
    return network.model_copy(update={"policies": policies, "settings": settings})


@pytest.mark.parametrize(("network", "transit"), [
    pytest.param(lambda: load_network(flagship_path()), False, id="flagship"),
    pytest.param(lambda: _with_outbound_transit(generate("S", seed=3)), True,
                 id="S-with-transit"),
    pytest.param(lambda: _with_supplier_shares_and_all_demand_met(generate("S", seed=3)),
                 False, id="S-supplier-shares-demand-met"),
])
def test_row_blocks_state_the_same_rows_as_the_plain_pyomo_rules(network: Any,
                                                                 transit: bool) -> None:
    data = prepare(network())
    assert bool((data.shipments.arrival > data.shipments.period).any()) == transit
    assert _rows(network_design.build(data)) == _rows(_with_reference_rules(data))


def _as_pyomo_constraints(data: Any) -> BuiltModel:
    return _blocks_replaced(
        data, lambda built, _, block: as_constraint(built.block_columns(block), block))


@pytest.mark.parametrize("network", [
    pytest.param(lambda: load_network(flagship_path()), id="flagship"),
    pytest.param(lambda: generate("S", seed=3), id="synthetic-S"),
])
def test_row_blocks_compile_to_the_rows_of_ordinary_constraints(network: Any) -> None:
    data = prepare(network())
    blocks = _rows(network_design.build(data))
    constraints = _rows(_as_pyomo_constraints(data))
    assert blocks == constraints


@pytest.mark.parametrize("kept_share", [0.0, 0.5])
def test_held_back_block_leaves_the_lp_but_its_kept_rows(kept_share: float) -> None:
    net: Network = generate("S", seed=3)
    built = network_design.build(prepare(net))
    full = to_highs_lp(built).lp
    name = "shipments_need_operating_site"
    linking = built.blocks[name]
    kept = np.arange(linking.rows) < kept_share * linking.rows
    built.blocks[name] = replace(linking, priority=np.where(kept, 1, 2))
    handoff = to_highs_lp(built, rank_kept=1)
    lp, columns, held = handoff.lp, handoff.columns, handoff.held
    assert held.upper.size == linking.rows - kept.sum() > 0
    assert lp.num_row_ + held.upper.size == full.num_row_
    assert lp.num_col_ == len(columns) == full.num_col_
    assert held.matrix.nnz == linking.matrix[~kept].nnz
    assert len(lp.a_matrix_.value_) + held.matrix.nnz == len(full.a_matrix_.value_)


def test_every_variable_family_knows_where_its_members_sit() -> None:
    built = network_design.build(prepare(generate("S", seed=3)))
    assert {"ship", "buy", "make", "unmet", "open", "site_operating"} <= set(built.families)
    for name, family in built.families.items():
        variable, keys = family.variable, family.keys
        assert isinstance(variable, pyo.Var)
        columns = [c for c in keys.columns if c != "position"]
        rows = keys.sort_values("position")[columns].itertuples(index=False, name=None)
        expected = [row[0] if len(row) == 1 else row for row in rows]
        assert list(variable.keys()) == expected, name


def test_every_lp_row_knows_where_it_comes_from() -> None:
    built = network_design.build(prepare(generate("S", seed=3)))
    handoff = to_highs_lp(built, rank_kept=1)
    origins = handoff.row_origins()
    assert len(origins) == handoff.lp.num_row_
    names = Counter(name for name, _ in origins)
    assert names["site_capacity"] == len(built.model.site_capacity)
    linking = built.blocks["shipments_need_operating_site"]
    assert names["shipments_need_operating_site"] == int(linking.kept(1).sum())
    assert names["demand_service"] == built.blocks["demand_service"].rows
