"""What-if runs over HTTP on the real server (local executor) and on Celery workers: the
children run as jobs, an infeasible child does not fail the others, cancelling the run
cancels its children, the comparison comes as JSON, CSV and xlsx, the report as HTML."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.api.support import FINAL, Server, flagship, new_key
from tests.api.test_celery import Cluster, cluster  # noqa: F401 - the Celery cluster fixture
from tests.instances import two_site_transport

VARIANTS = {"variants": [
    {"name": "cheap_b", "changes": [
        {"table": "site_tiers", "where": {"site": "B"}, "set": {"opening_cost": 10}}]},
    {"name": "tiny_sites", "changes": [
        {"table": "site_tiers", "scale": {"capacity_hours": 0.1}}]},
]}


def whatif_done(client: httpx.Client, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = client.get(f"/v1/whatif/{run_id}").json()
        if view["done"] == view["total"]:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"what-if {run_id} did not finish in {timeout} s: {view}")
        time.sleep(0.2)


def check_comparison(client: httpx.Client, run_id: str) -> None:
    """two_site_transport: base 290 (A alone); cheap_b (B opens at 10): both, 180;
    tiny_sites: capacity 40 < demand 120 -> infeasible."""
    rows = {r["variant"]: r for r in client.get(f"/v1/whatif/{run_id}/comparison").json()}
    assert list(rows) == ["base", "cheap_b", "tiny_sites"]
    assert rows["base"]["objective"] == pytest.approx(290)
    assert rows["cheap_b"]["objective"] == pytest.approx(180)
    assert rows["cheap_b"]["delta_objective"] == pytest.approx(-110)
    assert rows["cheap_b"]["changes"] == "opens B std in P1 (base: not opened)"
    assert rows["tiny_sites"]["status"] == "infeasible"
    assert "80 units short" in rows["tiny_sites"]["reason"]


def test_whatif_children_run_and_compare_on_the_local_executor(server: Server) -> None:
    with server.client(new_key(server.database_url, "whatif")) as client:
        submitted = client.post("/v1/whatif", json={"instance": two_site_transport(),
                                                    "variants": VARIANTS,
                                                    "options": {"mip_gap": 1e-9}})
        assert submitted.status_code == 202, submitted.text
        run = submitted.json()
        assert run["total"] == 3 and [c["name"] for c in run["children"]] == [
            "base", "cheap_b", "tiny_sites"]
        early = client.get(f"/v1/whatif/{run['id']}/comparison")
        view = whatif_done(client, run["id"])
        assert early.status_code in (200, 409)
        assert view["status"] == "succeeded"
        assert [c["plan_status"] for c in view["children"]] == ["optimal", "optimal", "infeasible"]
        for child in view["children"]:
            assert client.get(f"/v1/jobs/{child['job_id']}").json()["status"] == "succeeded"
        check_comparison(client, run["id"])

        csv = client.get(f"/v1/whatif/{run['id']}/comparison", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.startswith("variant,status,objective,expected_cost,cvar,worst_case_cost,"
                                   "delta_objective,delta_objective_pct,service_level,tariff_spend")
        xlsx = client.get(f"/v1/whatif/{run['id']}/comparison", params={"format": "xlsx"})
        assert list(pd.read_excel(io.BytesIO(xlsx.content)).variant) == [
            "base", "cheap_b", "tiny_sites"]
        report = client.get(f"/v1/whatif/{run['id']}/report")
        assert report.status_code == 200 and "What-if report" in report.text
        job_report = client.get(f"/v1/jobs/{run['children'][0]['job_id']}/report")
        assert job_report.status_code == 200 and "Plan report" in job_report.text


def test_warm_started_variants_wait_for_the_base_and_start_from_its_plan(
        server: Server) -> None:
    """As above, with the base plan (A open, B not) as each variant's MIP start: cheap_b
    completes it to 290 and still reaches 180; tiny_sites cannot (A's 20 hours)."""
    with server.client(new_key(server.database_url, "whatif-warm")) as client:
        run = client.post("/v1/whatif", json={"instance": two_site_transport(),
                                              "variants": VARIANTS, "warm_start": True,
                                              "options": {"mip_gap": 1e-9}}).json()
        view = whatif_done(client, run["id"])
        base, cheap_b, tiny = (client.get(f"/v1/jobs/{c['job_id']}").json()
                               for c in view["children"])
        for child in (cheap_b, tiny):
            assert child["options"]["start_from_job"] == base["id"]
            assert child["started_at"] >= base["finished_at"]
        check_comparison(client, run["id"])
        start = client.get(f"/v1/jobs/{cheap_b['id']}/result").json()["warm_start"]
        assert start["from_job"] == base["id"]
        assert start["verdict"].startswith("accepted"), start
        assert "objective value 290 " in start["verdict"]
        tiny_start = client.get(f"/v1/jobs/{tiny['id']}/result").json()["warm_start"]
        assert tiny_start["verdict"].startswith("rejected"), tiny_start
        assert "the plan of job" in client.get(f"/v1/jobs/{cheap_b['id']}/log").text
        other = client.post("/v1/jobs", json={"instance": two_site_transport(),
                                              "options": {"start_from_job": "job_nonesuch"}})
        assert other.status_code == 422 and "start_from_job" in other.text


def test_a_whatif_of_a_stored_dataset_applies_the_variants_outside_the_api_process(
        server: Server) -> None:
    """The base from a stored dataset: the variants are applied in a bounded child process
    (api.variant_runs); the children solve to the same optima as from the instance, and a bad
    variant of a dataset is a 422 naming it."""
    with server.client(new_key(server.database_url, "whatif-dataset")) as client:
        dataset = client.post("/v1/datasets", json={"name": "two-sites",
                                                    "instance": two_site_transport()}).json()
        submitted = client.post("/v1/whatif", json={"dataset": {"id": dataset["id"]},
                                                    "variants": VARIANTS,
                                                    "options": {"mip_gap": 1e-9}})
        assert submitted.status_code == 202, submitted.text
        run = submitted.json()
        assert [c["name"] for c in run["children"]] == ["base", "cheap_b", "tiny_sites"]
        view = whatif_done(client, run["id"])
        assert [c["plan_status"] for c in view["children"]] == ["optimal", "optimal", "infeasible"]
        base_job = client.get(f"/v1/jobs/{run['children'][0]['job_id']}").json()
        assert base_job["dataset"] == {"id": dataset["id"], "version": 1}
        check_comparison(client, run["id"])
        bad = client.post("/v1/whatif", json={"dataset": {"id": dataset["id"]}, "variants": {
            "variants": [{"name": "x", "changes": [
                {"table": "sites", "where": {"site": "HOU"}, "delete": True}]}]}})
        assert bad.status_code == 422
        assert "variant 'x' change 1: where" in bad.text


def test_a_bad_variant_is_a_422_naming_it(server: Server) -> None:
    with server.client(new_key(server.database_url, "whatif")) as client:
        answer = client.post("/v1/whatif", json={"instance": two_site_transport(), "variants": {
            "variants": [{"name": "x", "changes": [
                {"table": "sites", "where": {"site": "HOU"}, "delete": True}]}]}})
        assert answer.status_code == 422
        assert "variant 'x' change 1: where" in answer.text


def test_cancelling_the_run_cancels_its_children(server: Server) -> None:
    with server.client(new_key(server.database_url, "whatif-cancel")) as client:
        cancel_children(client)


def cancel_children(client: httpx.Client) -> None:
    variants = {"variants": [{"name": "more", "changes": [
        {"table": "demand", "scale": {"quantity": [1.1, 1.2, 1.3]}}]}]}
    run = client.post("/v1/whatif", json={"instance": flagship(), "variants": variants,
                                          "options": {"time_limit_s": 60}}).json()
    cancelled = client.delete(f"/v1/whatif/{run['id']}")
    assert cancelled.status_code == 202
    view = whatif_done(client, run["id"])
    assert view["status"] == "cancelled"
    assert all(c["status"] == "cancelled" for c in view["children"]), view


def test_whatif_children_run_on_celery_workers(cluster: Cluster) -> None:  # noqa: F811
    run = cluster.client.post("/v1/whatif", json={"instance": two_site_transport(),
                                                  "variants": VARIANTS,
                                                  "options": {"mip_gap": 1e-9}}).json()
    view = whatif_done(cluster.client, run["id"], timeout=180)
    assert all(c["status"] in FINAL for c in view["children"])
    check_comparison(cluster.client, run["id"])
