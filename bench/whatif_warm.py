"""What-if variants solved cold and warm-started from the base plan, side by side.

The base is solved once; then each chosen variant twice, one after the other in this process
with the same solver options (`--warm-first` swaps the order): cold (from scratch, as
`reshore whatif --no-warm-start`) and warm (the base plan's integer decisions handed to HiGHS
as a MIP start, as `reshore whatif --warm-start`; see `optimizer.whatif.warm_start_amend`).
Per variant and way: build, hand-off and solve seconds, status, objective, relative gap, the
checker's verdict and what HiGHS said of the start. Last, per variant: the warm solve's
seconds minus the cold one's, and the objectives' relative difference.

Usage (from the repository root)::

    nice -n 5 python bench/whatif_warm.py --time-limit 60
    nice -n 5 python bench/whatif_warm.py --variants usmca_revoked no_houston --time-limit 60
    nice -n 5 python bench/whatif_warm.py --warm-first --time-limit 60
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def row(name: str, way: str, outcome: Any) -> dict[str, Any]:
    plan = outcome.plan
    timings = plan.timings if plan is not None else None
    return {"variant": name, "way": way, "status": outcome.status,
            "build_s": timings.build if timings else None,
            "handoff_s": timings.handoff if timings else None,
            "solve_s": timings.solve if timings else None,
            "wall_s": outcome.wall_s,
            "objective": plan.objective if plan is not None else None,
            "gap": plan.gap if plan is not None else None,
            "check_ok": outcome.check_ok,
            "start": outcome.warm_start or "-"}


def shown(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def main() -> None:
    from reshore.data import flagship_path
    from reshore.optimizer.io import load_network
    from reshore.optimizer.variants import apply_all, read_variants
    from reshore.optimizer.whatif import BASE, Job, SolveLimits, base_start, solve_all

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=None,
                        help="the base instance (default: the flagship)")
    parser.add_argument("--variants-file", type=Path, default=None,
                        help="the variants file (default: the flagship's whatif.yaml)")
    parser.add_argument("--variants", nargs="*", default=None,
                        help="names of the variants to run (default: all)")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warm-first", action="store_true",
                        help="solve each variant warm, then cold (the order's effect on the"
                             " machine's caches and load shows when both orders are run)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    base_path = args.base or flagship_path()
    network = load_network(base_path)
    variants_file = args.variants_file or Path(base_path) / "whatif.yaml"
    applied = apply_all(network, read_variants(variants_file))
    if args.variants:
        unknown = set(args.variants) - {v.name for v in applied}
        if unknown:
            raise SystemExit(f"no such variants: {', '.join(sorted(unknown))}")
        applied = [v for v in applied if v.name in args.variants]
    limits = SolveLimits(time_limit_s=args.time_limit, mip_gap=args.gap, threads=args.threads,
                         random_seed=0)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}"
          f" {os.getloadavg()[2]:.2f}; time limit {args.time_limit:g} s, gap"
          f" {args.gap if args.gap is not None else 'instance'}, {args.threads} thread(s)",
          flush=True)
    base = solve_all([Job(BASE, network)], jobs=1, limits=limits)[BASE]
    rows = [row(BASE, "cold", base)]
    start = base_start(base)
    print(f"base: {base.status}, objective {shown(base.plan.objective if base.plan else None, 0)}"
          f" in {base.wall_s:.1f} s", flush=True)
    for variant in applied:
        ways = [("cold", None), ("warm", start)]
        for way, given in (ways[::-1] if args.warm_first else ways):
            outcome = solve_all([Job(variant.name, variant.network, start=given)], jobs=1,
                                limits=limits)[variant.name]
            rows.append(row(variant.name, way, outcome))
            r = rows[-1]
            print(f"  {variant.name} {way}: {r['status']}, objective {shown(r['objective'], 0)},"
                  f" gap {shown(r['gap'], 6)}, solve {shown(r['solve_s'])} s, start"
                  f" {r['start'][:60]}", flush=True)

    header = ("variant", "way", "status", "build_s", "handoff_s", "solve_s", "objective",
              "gap", "check_ok", "start")
    print("\n" + " | ".join(header))
    for r in rows:
        print(" | ".join(shown(r[h], 6 if h == "gap" else 0 if h == "objective" else 1)
                         for h in header))
    print("\nvariant | warm - cold solve s | (warm - cold) / cold objective")
    by = {(r["variant"], r["way"]): r for r in rows}
    for variant in applied:
        cold, warm = by[variant.name, "cold"], by[variant.name, "warm"]
        if cold["solve_s"] is None or warm["solve_s"] is None:
            print(f"{variant.name} | - | -")
            continue
        difference = (None if cold["objective"] in (None, 0) or warm["objective"] is None
                      else (warm["objective"] - cold["objective"]) / abs(cold["objective"]))
        print(f"{variant.name} | {warm['solve_s'] - cold['solve_s']:+.1f}"
              f" | {shown(difference, 6)}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
