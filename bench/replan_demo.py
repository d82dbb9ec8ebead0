"""Scheduled replans on the flagship, over HTTP: a schedule with a fast cron, three new
dataset versions (a demand change, a tariff change, a supplier outage) and the replan that
each one gets, with its diff.

    python bench/replan_demo.py [--every 30] [--time-limit 60]

The script starts `reshore serve` on a free port with a SQLite store in a temporary folder
(needs the `service` extra), makes an API key, stores the flagship as a dataset and creates a
schedule ticking every `--every` seconds. The first tick solves version 1 from scratch; after
it, the schedule is paused, the next version pushed (as a change list in the what-if variants
format) and the schedule resumed, so that the next tick replans the new version against the
newest plan, with `now` one period later each time. The script waits for each run's job, so
a run may take longer than a tick. Runs, jobs and plans stay visible through the API while
the script runs.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from reshore.api import db, security
from reshore.data import flagship_path
from reshore.optimizer.io import read_raw_tables

Change = Callable[[list[str], str, pd.DataFrame], tuple[list[dict[str, Any]], str]]
"""For a replan at `now` (periods and the newest plan's sourcing table given): the change
list of the next dataset version, in the what-if variants format, and what it changes."""


def demand_rise(periods: list[str], now: str,
                _sourcing: pd.DataFrame) -> tuple[list[dict[str, Any]], str]:
    """Every demand from `now` on rises by 20 %."""
    later = periods[periods.index(now):]
    return ([{"table": "demand", "where": {"period": later}, "scale": {"quantity": 1.2}}],
            f"demand from {now} on +20 %")


def tariff_rise(_periods: list[str], now: str,
                _sourcing: pd.DataFrame) -> tuple[list[dict[str, Any]], str]:
    """Every good from Mexico pays a 25 % tariff into the US from `now` on."""
    return ([{"table": "tariffs", "append": [{
        "scenario": "*", "origin_country": "MX", "destination_country": "US",
        "tariff_class": "*", "from_period": now, "rate": 0.25}]}],
            f"25 % tariff on everything from MX into the US from {now}")


def supplier_outage(periods: list[str], now: str,
                    sourcing: pd.DataFrame) -> tuple[list[dict[str, Any]], str]:
    """The offer the newest plan buys most from `now` on delivers nothing from `now` on: an
    offer_capacities row (capacity 0 from `now`), so that what was bought from it before
    `now` stays possible."""
    later = sourcing[~sourcing.period.isin(set(periods[:periods.index(now)]))]
    if later.empty:
        return [], "no outage: the newest plan buys nothing from now on (or has no plan)"
    offer = str(later.groupby("offer").quantity.sum().idxmax())
    bought_before = bool((sourcing.offer == offer).sum() > (later.offer == offer).sum())
    return ([{"table": "offer_capacities", "append": [
        {"offer": offer, "from_period": now, "capacity_per_period": 0}]}],
            f"supplier outage: offer {offer} delivers nothing from {now} on"
            + (" (bought from before)" if bought_before else ""))


VERSIONS: list[Change] = [demand_rise, tariff_rise, supplier_outage]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """`reshore serve` on a free port over a SQLite store in `folder`; (process, URL, key)."""
    database = f"sqlite:///{folder / 'reshore.db'}"
    db.migrate(database)
    with db.session_scope(database) as session:
        token = security.create_key(session, "demo").token
    port = free_port()
    env = {**os.environ, "RESHORE_DATABASE_URL": database, "RESHORE_WORKERS": "1",
           "RESHORE_SCHEDULE_INTERVAL_S": "0.5"}
    with (folder / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "reshore.api.cli", "serve", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url, token
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not start; see {folder / 'server.log'}")


def run_of_version(client: httpx.Client, schedule: str, version: int) -> dict[str, Any]:
    """The schedule's first run of dataset `version` once it is submitted; the schedule is
    paused at once (no further tick meanwhile) and the run returned when its job ends."""
    while True:
        runs = client.get(f"/v1/schedules/{schedule}/runs").json()["items"]
        found = [r for r in runs if r["status"] == "submitted" and r["dataset_version"] == version]
        if found:
            break
        time.sleep(0.5)
    client.patch(f"/v1/schedules/{schedule}", json={"paused": True})
    job = found[-1]["job_id"]
    while client.get(f"/v1/jobs/{job}").json()["status"] not in (
            "succeeded", "failed", "cancelled"):
        time.sleep(1)
    runs = client.get(f"/v1/schedules/{schedule}/runs").json()["items"]
    return dict(next(r for r in runs if r["job_id"] == job))


def show(client: httpx.Client, run: dict[str, Any]) -> None:
    answer = client.get(f"/v1/jobs/{run['job_id']}/result")
    if answer.status_code != 200:
        job = client.get(f"/v1/jobs/{run['job_id']}").json()
        print(f"  tick {run['tick_at']}: job {run['job_id']} {job['status']}, no plan:"
              f" {job.get('error') or answer.text}")
        return
    plan = answer.json()
    summary = plan["summary"]
    if summary["objective"] is None:
        print(f"  tick {run['tick_at']}: job {run['job_id']} {run['plan_status']}:"
              f" {'; '.join(summary['diagnosis'])}")
        return
    print(f"  tick {run['tick_at']}: {run['kind']} of version {run['dataset_version']}"
          + (f" at now={run['now']} against job {run['previous_job_id']}"
             if run["kind"] == "replan" else "")
          + f" -> job {run['job_id']} {run['job_status']} ({run['plan_status']}),"
          f" objective {summary['objective']:,.0f}, check ok: {plan['check']['ok']}")
    report = plan.get("replan")
    if report is None:
        return
    print(f"  warm start: {report['warm_start']}")
    print(f"  change penalties paid: {report['change_penalty_paid'] or 0:,.0f};"
          f" forced changes: {len(report['forced_changes'])}")
    for forced in report["forced_changes"][:3]:
        key = " ".join(str(value) for name, value in forced.items()
                       if name not in ("table", "where", "planned", "replanned"))
        print(f"    forced: {forced['table']} ({forced['where']}) {key}:"
              f" {forced['planned']:,.6g} -> {forced['replanned']:,.6g}")
    diff = report["diff"]
    print(f"  {'table':<16}{'added':>8}{'removed':>9}{'changed':>9}{'units moved':>14}"
          f"{'cost effect':>18}")
    for name, table in diff["tables"].items():
        effect = "-" if table["cost_effect"] is None else f"{table['cost_effect']:+,.0f}"
        print(f"  {name:<16}{table['added']:>8}{table['removed']:>9}{table['changed']:>9}"
              f"{table['units_moved']:>14,.0f}{effect:>18}")
    for row in diff["tables"]["sites"]["rows"]:
        print(f"  site {row['site']}: {row['status_before']} ({row['tier_before']},"
              f" opens {row['open_period_before']}) -> {row['status_after']}"
              f" ({row['tier_after']}, opens {row['open_period_after']})")
    if diff["cost_effect"] is not None:
        print(f"  expected cost {diff['expected_cost_before']:,.0f} ->"
              f" {diff['expected_cost_after']:,.0f} ({diff['cost_effect']:+,.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=30, help="seconds between two ticks")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--freeze", type=int, default=1)
    parser.add_argument("--change-penalty", type=float, default=200.0)
    args = parser.parse_args()
    tables = read_raw_tables(flagship_path())
    periods = tables["settings"]["periods"]
    with tempfile.TemporaryDirectory(prefix="reshore-demo-") as folder:
        process, url, token = start_server(Path(folder))
        try:
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                created = client.post("/v1/datasets", json={
                    "name": "us_ai_racks", "instance": tables, "note": "as shipped"})
                created.raise_for_status()
                dataset = created.json()["id"]
                response = client.post("/v1/schedules", json={
                    "dataset_id": dataset, "cron": f"* * * * * */{args.every}",
                    "options": {"now": periods[1], "freeze": args.freeze,
                                "change_penalty": args.change_penalty,
                                "time_limit_s": args.time_limit}})
                response.raise_for_status()
                schedule = response.json()["id"]
                print(f"schedule {schedule}: every {args.every} s on dataset {dataset}")
                print("version 1: the flagship as shipped")
                run = run_of_version(client, schedule, 1)
                show(client, run)
                for number, change in enumerate(VERSIONS, start=2):
                    sourcing = pd.read_csv(io.StringIO(client.get(
                        f"/v1/jobs/{run['job_id']}/result", params={"table": "sourcing"}).text))
                    changes, what = change(periods, periods[number - 1], sourcing)
                    if not changes:
                        print(f"\nversion {number}: {what}")
                        break
                    pushed = client.post(f"/v1/datasets/{dataset}/versions",
                                         json={"changes": changes, "note": what})
                    pushed.raise_for_status()
                    client.patch(f"/v1/schedules/{schedule}", json={"paused": False})
                    print(f"\nversion {number}: {what}")
                    run = run_of_version(client, schedule, number)
                    show(client, run)
                client.delete(f"/v1/schedules/{schedule}")
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
