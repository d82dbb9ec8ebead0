"""The relaxation by scenario spread over Celery workers, against the same on one machine.

Per size and seed, the solve runs until its LP relaxation has given the bound (then it is
cancelled), in each mode:

  alone     one HiGHS thread, the scenarios one after the other
  threads   two threads, the scenarios two at a time on the solve's own machine
  celery    one thread, and `--helpers` Celery workers (`reshore worker`, one solver process
            each, started here on this machine) offered every scenario but the first
            (`reshore.api.spread`)

It prints the seconds the relaxation took, each scenario's bound and who solved it, and the
relaxation's bound (the same in every mode, up to the LP tolerance). The workers need Redis
(`--broker`, default the local one). On one machine the helpers share its cores with the
solve, so `celery` can at best match `threads`; across machines each helper adds its own.

Usage (from the repository root)::

    nice -n 5 python bench/spread.py --sizes L --seeds 0 --helpers 1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODES = ("alone", "threads", "celery")


@contextmanager
def workers(count: int, broker: str, queue: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` Celery workers on `queue`, one solver process each, ready when yielded."""
    from reshore.api import db

    folder = Path(tempfile.mkdtemp(prefix="reshore-spread-"))
    database_url = f"sqlite:///{folder / 'reshore.db'}"
    db.migrate(database_url)  # a worker needs its store, though it runs no job here
    env = {**os.environ, "RESHORE_BROKER_URL": broker, "RESHORE_QUEUE": queue,
           "RESHORE_EXECUTOR": "celery", "RESHORE_JOB_MEMORY_MB": "0",
           "RESHORE_DATABASE_URL": database_url}
    started = []
    logs = [folder / f"worker{i}.log" for i in range(count)]
    for number, log in enumerate(logs):
        with log.open("wb") as sink:
            started.append(subprocess.Popen(
                [sys.executable, "-m", "reshore.api.cli", "worker", "--concurrency", "1",
                 "--name", f"helper{number}@%h"], cwd=ROOT, env=env, stdout=sink,
                stderr=subprocess.STDOUT))
    try:
        deadline = time.monotonic() + 120
        while not all(" ready." in log.read_text(errors="replace") for log in logs):
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not become ready")
            time.sleep(0.2)
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=60)


def relaxation(size: str, seed: int, mode: str, broker: str, queue: str) -> dict[str, Any]:
    """Solve until the relaxation's bound, in `mode`; what the log says of it."""
    from reshore.api.spread import CeleryScenarioHelpers
    from reshore.data.synthetic import generate
    from reshore.optimizer.solve import SolveOptions, solve

    network = generate(size, seed)
    heard: list[str] = []
    options = SolveOptions(threads=2 if mode == "threads" else 1, concurrent_relaxation=False,
                           progress=heard.append,
                           should_stop=lambda: any("LP relaxation" in line and "bound" in line
                                                   for line in heard))
    helpers = CeleryScenarioHelpers.on_queue(broker, queue) if mode == "celery" else None
    started = time.perf_counter()
    try:
        plan = solve(network, replace(options, scenario_helpers=helpers))
    finally:
        if helpers is not None:
            helpers.close()
    scenarios = [line for line in plan.log if line.startswith("LP relaxation by scenario:")]
    took = next((float(line.split(" in ")[1].split(" s")[0]) for line in plan.log
                 if line.startswith("LP relaxation: bound in")), None)
    return {"size": size, "seed": seed, "mode": mode, "relaxation_s": took,
            "total_s": time.perf_counter() - started, "scenarios": scenarios,
            "bound": plan.bound}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["L"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--helpers", type=int, default=1, help="Celery workers started")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    queue = f"reshore.bench.{uuid.uuid4().hex[:8]}"
    with workers(args.helpers if "celery" in args.modes else 0, args.broker, queue):
        for size in args.sizes:
            for seed in args.seeds:
                for mode in args.modes:
                    row = relaxation(size, seed, mode, args.broker, queue)
                    took = row["relaxation_s"]
                    print(f"{size} seed {seed} {mode:8s} relaxation"
                          f" {'-' if took is None else f'{took:.1f}'} s (solve until then"
                          f" {row['total_s']:.1f} s), bound {row['bound']}", flush=True)
                    for line in row["scenarios"]:
                        print(f"    {line}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
