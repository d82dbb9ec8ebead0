"""Where build and hand-off time goes, rule by rule, on one synthetic instance.

Runs prepare, then `models.network_design.build` with each of its `define_*` steps timed,
then the hand-off in its parts: Pyomo's `LinearStandardFormCompiler` over the Pyomo
constraints and objective, and the rest of `to_highs_lp` (row blocks, column bounds and
integrality), then `passModel`. With `--per-family` the compiler is also run on each Pyomo
constraint family alone (and on the objective alone), which says what each family costs in
the hand-off. Prints the rows and nonzeros of each family.

Usage (from the repository root)::

    python bench/build_profile.py --size XL
    python bench/build_profile.py --size L --per-family
"""

from __future__ import annotations

import argparse
import functools
import resource
import sys
import time
from collections.abc import Callable
from typing import Any


def _timed(name: str, function: Callable[..., Any], times: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            times[name] = times.get(name, 0.0) + time.perf_counter() - started
    return wrapper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build and hand-off time rule by rule")
    parser.add_argument("--size", default="XL")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-family", action="store_true",
                        help="compile each Pyomo constraint family alone as well")
    args = parser.parse_args(argv)

    import highspy
    import pyomo.environ as pyo
    from pyomo.common.gc_manager import PauseGC
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    from reshore.data.synthetic import generate
    from reshore.models import network_design
    from reshore.optimizer.prepare import prepare
    from reshore.optimizer.solve import to_highs_lp

    warm = to_highs_lp(network_design.build(prepare(generate("tiny", 0)))).lp
    highspy.Highs().passModel(warm)  # type: ignore[no-untyped-call]

    network = generate(args.size, args.seed)
    started = time.perf_counter()
    data = prepare(network)
    prepare_s = time.perf_counter() - started

    steps: dict[str, float] = {}
    for name in [n for n in dir(network_design) if n.startswith("define_")]:
        setattr(network_design, name, _timed(name, getattr(network_design, name), steps))
    started = time.perf_counter()
    built = network_design.build(data)
    build_s = time.perf_counter() - started

    model = built.model
    started = time.perf_counter()
    with PauseGC():
        form = LinearStandardFormCompiler().write(model, mixed_form=True)
    compile_s = time.perf_counter() - started
    del form
    started = time.perf_counter()
    handoff = to_highs_lp(built)
    handoff_s = time.perf_counter() - started
    started = time.perf_counter()
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.passModel(handoff.lp)
    pass_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    lp = handoff.lp
    print(f"# {args.size} seed {args.seed}: {lp.num_col_:,} variables, {lp.num_row_:,}"
          f" constraints, {len(lp.a_matrix_.value_):,} nonzeros; peak {peak_mb:.0f} MB")
    print(f"prepare {prepare_s:.2f} s, build {build_s:.2f} s, hand-off {handoff_s + pass_s:.2f} s"
          f" (to_highs_lp {handoff_s:.2f} s, of which Pyomo's compiler {compile_s:.2f} s;"
          f" passModel {pass_s:.2f} s)")
    print("\n# build, step by step (seconds)")
    for name, seconds in sorted(steps.items(), key=lambda item: -item[1]):
        if seconds >= 0.005:
            print(f"{name:<45} {seconds:8.2f}")

    print("\n# rows and nonzeros by family")
    constraints = list(model.component_objects(pyo.Constraint, active=True))
    for constraint in constraints:
        print(f"{constraint.local_name:<45} {len(constraint):>9,} rows (Pyomo)")
    for name, block in built.blocks.items():
        print(f"{name:<45} {block.rows:>9,} rows {block.matrix.nnz:>11,} nonzeros (block)")

    if args.per_family:
        print("\n# Pyomo's compiler on each family alone")
        objectives = list(model.component_objects(pyo.Objective, active=True))
        for objective in objectives:
            objective.deactivate()
        for constraint in constraints:
            constraint.deactivate()
        for part in [*constraints, *objectives]:
            part.activate()
            started = time.perf_counter()
            with PauseGC():
                alone = LinearStandardFormCompiler().write(model, mixed_form=True)
            seconds = time.perf_counter() - started
            nonzeros = alone.c.nnz if isinstance(part, pyo.Objective) else alone.A.nnz
            print(f"{part.local_name:<45} {seconds:8.2f} s {nonzeros:>11,} nonzeros")
            part.deactivate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
