"""Load test of the job service: N concurrent clients submit small jobs and poll them.

    python bench/load.py                      # starts its own server (SQLite, local pool)
    python bench/load.py --clients 16 --jobs 10 --workers 2
    python bench/load.py --url http://127.0.0.1:8000 --token rsk_...   # a running server
    python bench/load.py --tenants 2 --kill-solver   # kill -9 a busy solver process mid-run

Reports the throughput of finished jobs, the latency percentiles of submit (POST /v1/jobs) and
status (GET /v1/jobs/{id}) calls while solves run, and whether any job was lost: every
submitted job must be listed by the server and reach a final state. With `--kill-solver` (own
server only), the solver process of one running job is killed with SIGKILL once a third of the
jobs were submitted, as the OOM killer would; the report names that job and every job that
needed more than one run (only the killed one should), per tenant. Only loopback addresses
are targeted, every loop is bounded, and the run stops by itself after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parents[1]
FINAL = ("succeeded", "failed", "cancelled")


def small_instance(variant: int) -> dict[str, Any]:
    """Two candidate sites and two customers; opening B costs 150 + variant."""
    return {
        "settings": {"periods": ["P1"]},
        "sites": [{"site": "A", "country": "US"}, {"site": "B", "country": "US"}],
        "site_tiers": [
            {"site": "A", "tier": "std", "capacity_hours": 200, "opening_cost": 50},
            {"site": "B", "tier": "std", "capacity_hours": 200, "opening_cost": 150 + variant},
        ],
        "products": [{"product": "rack", "assembly_hours": 1}],
        "customers": [{"customer": "X", "country": "US"}, {"customer": "Y", "country": "US"}],
        "demand": [{"customer": "X", "product": "rack", "period": "P1", "quantity": 60},
                   {"customer": "Y", "product": "rack", "period": "P1", "quantity": 60}],
        "lanes": [{"origin": o, "destination": d, "cost_per_unit": c}
                  for o, d, c in (("A", "X", 1), ("A", "Y", 3), ("B", "X", 2), ("B", "Y", 1))],
    }


def loopback_only(url: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        sys.exit(f"refusing to load {host!r}: this script only targets the loopback address")


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    submit: list[float] = field(default_factory=list)
    status: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    final: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    tenant_of: dict[str, str] = field(default_factory=dict)


def client_loop(url: str, tenant: str, token: str, jobs: int, offset: int, deadline: float,
                tally: Tally, poll_s: float) -> None:
    with httpx.Client(base_url=url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        mine: list[str] = []
        for i in range(jobs):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            response = client.post("/v1/jobs", json={"instance": small_instance(offset + i)},
                                   headers={"Idempotency-Key": f"load-{offset + i}"})
            elapsed = time.perf_counter() - started
            with tally.lock:
                tally.submit.append(elapsed)
                if response.status_code == 202:
                    mine.append(response.json()["id"])
                    tally.submitted.append(mine[-1])
                    tally.tenant_of[mine[-1]] = tenant
                else:
                    tally.errors.append(f"submit {response.status_code}: {response.text[:200]}")
        pending = set(mine)
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                started = time.perf_counter()
                response = client.get(f"/v1/jobs/{job_id}")
                elapsed = time.perf_counter() - started
                with tally.lock:
                    tally.status.append(elapsed)
                if response.status_code != 200:
                    with tally.lock:
                        tally.errors.append(f"status {response.status_code}")
                    continue
                state = response.json()["status"]
                if state in FINAL:
                    pending.discard(job_id)
                    with tally.lock:
                        tally.final[job_id] = state
                        tally.attempts[job_id] = response.json()["attempts"]
            time.sleep(poll_s)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"n": len(values), "p50_ms": round(at(0.50), 2), "p95_ms": round(at(0.95), 2),
            "p99_ms": round(at(0.99), 2), "max_ms": round(1000 * ordered[-1], 2),
            "mean_ms": round(1000 * statistics.fmean(values), 2)}


def listed_ids(url: str, token: str) -> set[str]:
    """Every job the server lists for the tenant (following the pages, bounded)."""
    found: set[str] = set()
    with httpx.Client(base_url=url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        next_page: str | None = "/v1/jobs?limit=200"
        for _ in range(1000):
            if next_page is None:
                break
            page = client.get(next_page).json()
            found.update(job["id"] for job in page["items"])
            next_page = page["next"]
    return found


STARTED = re.compile(r"^run \d+ started on \S+:(\d+)$", re.MULTILINE)
KILLED = "solver process killed"
"""How a job's log names the loss of its solver process."""


def job_log(url: str, tokens: list[str], tenant: str, job: str) -> str:
    """The log of `job`, read with its tenant's key (tenants are `load<i>`)."""
    token = tokens[int(tenant.removeprefix("load"))]
    with httpx.Client(base_url=url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        return client.get(f"/v1/jobs/{job}/log").text


def kill_a_busy_solver(url: str, tokens: list[str], tally: Tally, after: int,
                       deadline: float) -> dict[str, Any]:
    """Once `after` jobs were submitted, SIGKILL the solver process of a running job (its pid
    is in the job's log); what was killed."""
    while time.monotonic() < deadline:
        with tally.lock:
            ready = len(tally.submitted) >= after
        if ready:
            break
        time.sleep(0.02)
    clients = [httpx.Client(base_url=url, timeout=30,
                            headers={"Authorization": f"Bearer {token}"}) for token in tokens]
    try:
        while time.monotonic() < deadline:
            for client in clients:
                for job in client.get("/v1/jobs?status=running&limit=20").json()["items"]:
                    found = STARTED.findall(client.get(f"/v1/jobs/{job['id']}/log").text)
                    if not found:
                        continue
                    try:
                        os.kill(int(found[-1]), signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    return {"job": job["id"], "pid": int(found[-1])}
            time.sleep(0.01)
    finally:
        for client in clients:
            client.close()
    return {"job": None}


def start_server(folder: Path, workers: int, tenants: int
                 ) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    database = f"sqlite:///{folder / 'load.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESHORE_")}
    env.update(RESHORE_DATABASE_URL=database, RESHORE_WORKERS=str(workers),
               RESHORE_TENANT_MAX_RUNNING=str(workers), RESHORE_LOG_LEVEL="warning",
               PYTHONPATH=str(ROOT))
    tokens = [subprocess.run([sys.executable, "-m", "reshore.api.cli", "keys", "create",
                              "--tenant", f"load{t}"], env=env, cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
              for t in range(tenants)]
    log = (folder / "server.log").open("wb")
    serve = [sys.executable, "-m", "reshore.api.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(serve, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url, tokens
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    sys.exit("the server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server on 127.0.0.1 (default: start one)")
    parser.add_argument("--token", help="API key for --url")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--jobs", type=int, default=10, help="jobs per client")
    parser.add_argument("--workers", type=int, default=2, help="solver processes (own server)")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between polls")
    parser.add_argument("--max-seconds", type=float, default=300, help="stop after this long")
    parser.add_argument("--tenants", type=int, default=1,
                        help="tenants the clients are spread over (own server)")
    parser.add_argument("--kill-solver", action="store_true",
                        help="SIGKILL one busy solver process mid-run (own server)")
    args = parser.parse_args()

    process = None
    folder = tempfile.TemporaryDirectory(prefix="reshore-load-")
    if args.url:
        if not args.token:
            sys.exit("--url needs --token")
        if args.kill_solver:
            sys.exit("--kill-solver needs the script's own server")
        loopback_only(args.url)
        url, tokens = args.url, [args.token]
    else:
        process, url, tokens = start_server(Path(folder.name), args.workers, args.tenants)
    try:
        with httpx.Client(base_url=url, timeout=30,
                          headers={"Authorization": f"Bearer {tokens[0]}"}) as warm:
            first = warm.post("/v1/jobs", json={"instance": small_instance(-1)}).json()["id"]
            for _ in range(600):  # the solver processes are warm once a job went through
                if warm.get(f"/v1/jobs/{first}").json()["status"] in FINAL:
                    break
                time.sleep(0.1)
        tally = Tally()
        started = time.monotonic()
        deadline = started + args.max_seconds
        offset = int(time.time() * 1000) % 10**9
        threads = [threading.Thread(target=client_loop, args=(
            url, f"load{c % len(tokens)}", tokens[c % len(tokens)], args.jobs,
            offset + c * args.jobs, deadline, tally, args.poll))
            for c in range(args.clients)]
        killed: dict[str, Any] = {}
        killer = threading.Thread(target=lambda: killed.update(kill_a_busy_solver(
            url, tokens, tally, args.clients * args.jobs // 3, deadline)))
        if args.kill_solver:
            killer.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if args.kill_solver:
            killer.join()
        wall = time.monotonic() - started
        listed: set[str] = set()
        for token in tokens:
            listed |= listed_ids(url, token)
        lost = sorted(set(tally.submitted) - listed)
        unfinished = sorted(set(tally.submitted) - set(tally.final))
        states: dict[str, int] = {}
        for state in tally.final.values():
            states[state] = states.get(state, 0) + 1
        report = {
            "clients": args.clients, "jobs_submitted": len(tally.submitted),
            "jobs_finished": len(tally.final), "final_states": states,
            "wall_s": round(wall, 2),
            "throughput_jobs_per_s": round(len(tally.final) / wall, 2) if wall else None,
            "submit_latency": percentiles(tally.submit),
            "status_latency": percentiles(tally.status),
            "lost_jobs": lost, "unfinished_jobs": unfinished, "errors": tally.errors[:20],
        }
        if args.kill_solver:
            # the process named in one job's log may have moved on to the tenant's next job
            # by the time the signal arrives: the job it hit is the one whose log says so
            hit = [job for job in tally.submitted
                   if KILLED in job_log(url, tokens, tally.tenant_of[job], job)]
            report["killed"] = {"pid": killed.get("pid"), "named_in_log_of": killed.get("job"),
                                "jobs_hit": [{"job": job, "tenant": tally.tenant_of[job],
                                              "final_state": tally.final.get(job),
                                              "attempts": tally.attempts.get(job)}
                                             for job in hit]}
        report["jobs_run_more_than_once"] = {
            job: {"tenant": tally.tenant_of[job], "attempts": n}
            for job, n in tally.attempts.items() if n > 1}
        report["jobs_per_tenant"] = {
            tenant: sum(1 for t in tally.tenant_of.values() if t == tenant)
            for tenant in sorted(set(tally.tenant_of.values()))}
        print(json.dumps(report, indent=2))
        return 0 if not lost and not unfinished and not tally.errors else 1
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        folder.cleanup()


if __name__ == "__main__":
    sys.exit(main())
