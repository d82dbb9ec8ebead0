"""A job of a stored dataset is submitted without parsing the stored instance in the API process:
the figures recorded when the version was validated (its size estimate, periods and solver
settings) answer the submission. Against a real `reshore serve` whose jobs go to a Celery queue
that no worker reads (nothing is solved here; tests/api/test_http.py and test_uploads.py solve
dataset jobs); the API process's memory is read from /proc."""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from reshore.api import db
from reshore.api.estimate import SizeEstimate, estimate_size
from reshore.api.models import DatasetVersion
from reshore.optimizer.io import write_csv_folder
from reshore.optimizer.schema import parse_network
from tests.api.support import (
    REDIS_URL,
    Server,
    TreeMemory,
    new_key,
    redis_reachable,
    require,
    rss_kib,
)
from tests.instances import lanes

LARGE = (10_000, 10)
"""customers and periods of the large dataset: 100,000 demand rows, about 5.4 M nonzeros"""
WIDE = (5_000, 20)
"""100,000 demand rows over 20 periods: about 9.9 M nonzeros"""
MAX_NONZEROS = 7_500_000
SUBMISSIONS = 5
QUEUE = f"reshore.test-dataset-jobs-{os.getpid()}"


def demand_instance(customers: int, periods: int) -> dict[str, Any]:
    """Sites A and B serve `customers` customers, one unit each in every one of `periods`
    periods, over a lane from each site."""
    names = [f"C{number:05d}" for number in range(customers)]
    labels = [f"P{t:03d}" for t in range(periods)]
    return {
        "settings": {"periods": labels},
        "sites": [{"site": "A", "country": "US"}, {"site": "B", "country": "US"}],
        "site_tiers": [{"site": site, "tier": "std", "capacity_hours": 1e6, "opening_cost": 50}
                       for site in "AB"],
        "products": [{"product": "rack", "assembly_hours": 1}],
        "customers": [{"customer": name, "country": "US"} for name in names],
        "demand": [{"customer": name, "product": "rack", "period": label, "quantity": 1}
                   for name in names for label in labels],
        "lanes": lanes(*[(site, name, 1) for site in "AB" for name in names]),
    }


def zipped(instance: dict[str, Any], folder: Path) -> tuple[bytes, SizeEstimate]:
    """The instance as a zipped CSV folder, and its size estimate."""
    network = parse_network(instance)
    written = write_csv_folder(network, folder)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(written.iterdir()):
            bundle.write(path, f"instance/{path.name}")
    return archive.getvalue(), estimate_size(network)


@pytest.fixture(scope="module")
def queued_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    require("redis", redis_reachable)
    folder = tmp_path_factory.mktemp("dataset-jobs")
    url = f"sqlite:///{folder / 'reshore.db'}"
    token = new_key(url, "acme")
    server = Server(url, folder / "server.log", executor="celery", broker_url=REDIS_URL,
                    queue=QUEUE, max_model_nonzeros=MAX_NONZEROS).start()
    yield server, token
    server.stop()
    import redis

    redis.Redis.from_url(REDIS_URL).delete(QUEUE)


def _import(server: Server, token: str, body: bytes, name: str) -> dict[str, Any]:
    with server.client(token) as client:
        client.timeout = 120
        answer = client.post("/v1/datasets/import", params={"name": name}, content=body,
                             headers={"content-type": "application/zip"})
    assert answer.status_code == 201, answer.text[:500]
    found: dict[str, Any] = answer.json()
    return found


def _submit_many(server: Server, token: str, dataset: str
                 ) -> tuple[list[dict[str, Any]], list[float], float, TreeMemory]:
    """SUBMISSIONS jobs of the dataset: the answers, the time of each, and the API process's
    memory before (MiB) and while."""
    assert server.process is not None
    before_mib = rss_mib(server.process.pid)
    answers, times = [], []
    with TreeMemory(server.process.pid) as memory, server.client(token) as client:
        for _ in range(SUBMISSIONS):
            started = time.monotonic()
            answer = client.post("/v1/jobs", json={"dataset": {"id": dataset}})
            times.append(time.monotonic() - started)
            assert answer.status_code == 202, answer.text[:500]
            answers.append(answer.json())
    return answers, times, before_mib, memory


def rss_mib(pid: int) -> float:
    return rss_kib(pid) / 1024


def test_jobs_of_a_large_dataset_do_not_grow_the_api_process(
        queued_server: tuple[Server, str], tmp_path: Path) -> None:
    """100,000 demand rows (120,000 rows in all, within the upload limits) imported once, then
    submitted as a job five times: each submission reads the recorded figures, the API process
    does not grow, and every job carries the size estimate of the instance."""
    server, token = queued_server
    body, estimate = zipped(demand_instance(*LARGE), tmp_path / "large")
    dataset = _import(server, token, body, "large")
    assert dataset["versions"][-1]["counts"]["demand"] == 100_000
    answers, times, before_mib, memory = _submit_many(server, token, dataset["id"])
    print(f"{SUBMISSIONS} jobs of a 100,000-row dataset: {', '.join(f'{t:.2f}' for t in times)}"
          f" s; API process {before_mib:.0f} MiB before, peak {memory.peak_root_mib:.0f} MiB")
    for job in answers:
        assert job["status"] == "queued"
        assert job["estimated_variables"] == estimate.variables
        assert job["dataset"] == {"id": dataset["id"], "version": 1}
    assert memory.peak_root_mib < before_mib + 20


def test_an_oversized_dataset_job_is_refused_with_its_figures(
        queued_server: tuple[Server, str], tmp_path: Path) -> None:
    """A stored dataset whose model would exceed `max_model_nonzeros` is refused with 413 and
    the estimate's figures, from the recorded figures."""
    server, token = queued_server
    body, estimate = zipped(demand_instance(*WIDE), tmp_path / "wide")
    assert estimate.nonzeros > MAX_NONZEROS
    dataset = _import(server, token, body, "wide")
    with server.client(token) as client:
        answer = client.post("/v1/jobs", json={"dataset": {"id": dataset["id"]}})
    assert answer.status_code == 413, answer.text[:500]
    detail = answer.json()["detail"]
    print(f"oversized dataset job: {detail}")
    assert f"about {estimate.nonzeros:,} nonzeros" in detail
    assert f"{estimate.variables:,} variables over 20 periods" in detail
    assert f"at most {MAX_NONZEROS:,}" in detail


def test_a_version_stored_before_figures_were_recorded_gets_them_once(
        queued_server: tuple[Server, str], tmp_path: Path) -> None:
    """A version without figures (stored before they were recorded): its first job computes
    them in a bounded child process, not in the API process, and records them; the next jobs
    read them."""
    server, token = queued_server
    instance = demand_instance(*LARGE)
    instance["settings"]["solver"] = {"time_limit_s": 45}
    body, estimate = zipped(instance, tmp_path / "older")
    dataset = _import(server, token, body, "older")
    with db.session_scope(server.database_url) as session:
        session.execute(update(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset["id"]).values(figures=None))
    answers, times, before_mib, memory = _submit_many(server, token, dataset["id"])
    print(f"{SUBMISSIONS} jobs of a 100,000-row version without figures:"
          f" {', '.join(f'{t:.2f}' for t in times)} s; API process {before_mib:.0f} MiB"
          f" before, peak {memory.peak_root_mib:.0f} MiB; tree peak {memory.peak_mib:.0f} MiB")
    for job in answers:
        assert job["estimated_variables"] == estimate.variables
        assert job["time_limit_s"] == 45
    assert memory.peak_root_mib < before_mib + 40  # the stored text passes through, once
    assert memory.peak_mib > memory.peak_root_mib + 100  # the validation ran in the child
    with db.session_scope(server.database_url) as session:
        recorded = session.scalar(select(DatasetVersion.figures).where(
            DatasetVersion.dataset_id == dataset["id"]))
    assert recorded is not None and f'"variables": {estimate.variables}' in recorded


def test_a_whatif_of_a_large_dataset_does_not_parse_it_in_the_api_process(
        queued_server: tuple[Server, str], tmp_path: Path) -> None:
    """A what-if of the 100,000-row dataset with one variant: the variant is applied in a
    bounded child process; the API process only passes the runs' JSON text to the store."""
    server, token = queued_server
    assert server.process is not None
    body, estimate = zipped(demand_instance(*LARGE), tmp_path / "whatif")
    dataset = _import(server, token, body, "whatif")
    variants = {"variants": [{"name": "dear_a", "changes": [
        {"table": "site_tiers", "where": {"site": "A"}, "set": {"opening_cost": 500}}]}]}
    before_mib = rss_mib(server.process.pid)
    with TreeMemory(server.process.pid) as memory, server.client(token) as client:
        client.timeout = 120
        started = time.monotonic()
        answer = client.post("/v1/whatif", json={"dataset": {"id": dataset["id"]},
                                                 "variants": variants})
        elapsed = time.monotonic() - started
    print(f"what-if of a 100,000-row dataset, one variant: {answer.status_code} in"
          f" {elapsed:.2f} s; API process {before_mib:.0f} MiB before, peak"
          f" {memory.peak_root_mib:.0f} MiB; tree peak {memory.peak_mib:.0f} MiB")
    assert answer.status_code == 202, answer.text[:500]
    assert [c["name"] for c in answer.json()["children"]] == ["base", "dear_a"]
    with server.client(token) as client:
        for child in answer.json()["children"]:
            job = client.get(f"/v1/jobs/{child['job_id']}").json()
            assert job["estimated_variables"] == estimate.variables
    assert memory.peak_root_mib < before_mib + 100  # the runs' JSON text, not their networks
    assert memory.peak_mib > memory.peak_root_mib + 100  # the variant was applied in the child
