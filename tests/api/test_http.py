"""The job API through a real `reshore serve` process (SQLite store, local process pool)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reshore.api import db, security
from reshore.data import flagship_path
from tests.api.support import (
    Server,
    checked_result,
    finished,
    flagship,
    long_job,
    new_key,
    wait_for,
)
from tests.instances import risk_choice, short_capacity, two_site_transport

_open: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def client_for(server: Server, tenant: str) -> httpx.Client:
    client = server.client(new_key(server.database_url, tenant))
    _open.append(client)
    return client


def submit(client: httpx.Client, instance: dict[str, object], **options: object) -> str:
    response = client.post("/v1/jobs", json={"instance": instance, "options": options})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_submit_poll_and_fetch_the_plan_in_every_format(server: Server) -> None:
    client = client_for(server, "acme")
    response = client.post("/v1/jobs", json={"instance": two_site_transport()})
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued"
    assert response.headers["location"] == job["links"]["self"] == f"/v1/jobs/{job['id']}"
    assert job["estimated_variables"] >= 17

    done = finished(client, job["id"])
    assert done["status"] == "succeeded" and done["plan_status"] == "optimal"
    assert done["progress"]["best_objective"] == pytest.approx(290)
    assert done["progress"]["elapsed_s"] > 0 and done["attempts"] == 1

    plan = checked_result(client, job["id"])
    assert plan["summary"]["objective"] == pytest.approx(290)
    # money unit 1; capacity 200 the largest coefficient; row bounds 1 (one start), 60
    # (demand) and 120 (capacity covers demand); the binaries' bound 1; probability 1
    assert plan["summary"]["scaling"]["handed"] == {
        "matrix": [1, 200], "cost": [1, 1], "bound": [1, 1], "rhs": [1, 120]}
    assert {row["site"]: row["status"] for row in plan["sites"]} == {"A": "open",
                                                                     "B": "not opened"}
    sites = client.get(f"/v1/jobs/{job['id']}/result", params={"table": "sites"})
    assert sites.headers["content-type"].startswith("text/csv")
    assert sites.text.splitlines()[0] == "site,tier,open_period,close_period,status,country"
    workbook = client.get(f"/v1/jobs/{job['id']}/result", params={"format": "xlsx"})
    assert workbook.content[:2] == b"PK"
    log = client.get(f"/v1/jobs/{job['id']}/log")
    assert "HiGHS: optimal" in log.text
    assert "coefficients HiGHS sees (money in units of 1): matrix [1, 200]" in log.text
    tail = client.get(f"/v1/jobs/{job['id']}/log", params={"offset": 2})
    assert tail.text == "".join(line + "\n" for line in log.text.splitlines()[2:])
    bad_table = client.get(f"/v1/jobs/{job['id']}/result", params={"table": "nope"})
    assert bad_table.status_code == 422


def test_an_infeasible_instance_is_answered_with_the_reason(server: Server) -> None:
    client = client_for(server, "acme")
    job_id = submit(client, short_capacity(None))
    done = finished(client, job_id)
    assert done["status"] == "succeeded" and done["plan_status"] == "infeasible"
    plan = client.get(f"/v1/jobs/{job_id}/result").json()
    assert plan["summary"]["diagnosis"], plan["summary"]


def test_risk_options_replace_the_instance_risk_measure(server: Server) -> None:
    client = client_for(server, "risk")
    expected = submit(client, risk_choice("expected"))
    cvar = submit(client, risk_choice("expected"), risk={"measure": "cvar"})
    assert checked_result(client, expected) if finished(client, expected) else None
    assert finished(client, cvar)["status"] == "succeeded"
    assert checked_result(client, expected)["summary"]["objective"] == pytest.approx(150)
    assert checked_result(client, cvar)["summary"]["objective"] == pytest.approx(200)


def test_keys_are_required_and_revocable(server: Server) -> None:
    anonymous = httpx.get(f"{server.url}/v1/jobs")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    forged = httpx.get(f"{server.url}/v1/jobs", headers={"Authorization": "Bearer rsk_x_y"})
    assert forged.status_code == 401
    token = new_key(server.database_url, "revoked")
    client = server.client(token)
    _open.append(client)
    assert client.get("/v1/jobs").status_code == 200
    with db.session_scope(server.database_url) as session:
        assert security.revoke_key(session, token.split("_")[1])
    assert client.get("/v1/jobs").status_code == 401


def test_bad_input_is_a_422_naming_every_bad_field(server: Server) -> None:
    client = client_for(server, "acme")
    instance = two_site_transport()
    instance["sites"][0]["country"] = ""
    instance["demand"][1]["quantity"] = -1
    instance["sites"][1]["colour"] = "red"
    response = client.post("/v1/jobs", json={"instance": instance})
    assert response.status_code == 422
    found = {(e["table"], e["row"], e["column"]) for e in response.json()["detail"]}
    assert found == {("sites", 1, "country"), ("demand", 2, "quantity"), ("sites", 2, "colour")}
    assert ["body", "instance", "demand", 1, "quantity"] in [
        e["loc"] for e in response.json()["detail"]]

    response = client.post("/v1/jobs", json={"instance": two_site_transport(), "options": {
        "mip_gap": 2, "threads": 0, "turbo": True}})
    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert locs == {("body", "options", "mip_gap"), ("body", "options", "threads"),
                    ("body", "options", "turbo")}
    neither = client.post("/v1/jobs", json={"options": {}})
    assert neither.status_code == 422
    not_json = client.post("/v1/jobs", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422


def test_limits_time_model_size_and_body_size(server: Server) -> None:
    client = client_for(server, "acme")
    too_long = client.post("/v1/jobs", json={"instance": two_site_transport(),
                                             "options": {"time_limit_s": 1000}})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["body", "options", "time_limit_s"]

    capped = two_site_transport()
    capped["settings"]["solver"] = {"time_limit_s": 500}
    job = client.post("/v1/jobs", json={"instance": capped}).json()
    assert job["time_limit_s"] == 120

    huge = two_site_transport()
    huge["settings"]["periods"] = [f"P{t}" for t in range(1, 8001)]
    response = client.post("/v1/jobs", json={"instance": huge})
    assert response.status_code == 413
    assert "variables" in response.json()["detail"]

    oversized = client.post("/v1/jobs", content=b"x" * 2_100_000,
                            headers={"content-type": "application/json"})
    assert oversized.status_code == 413


def test_idempotency_key(server: Server) -> None:
    client = client_for(server, "idem")
    body = {"instance": two_site_transport(), "options": {"mip_gap": 0.0}}
    first = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-1"})
    again = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = dict(body, options={"mip_gap": 0.01})
    conflict = client.post("/v1/jobs", json=other, headers={"Idempotency-Key": "order-1"})
    assert conflict.status_code == 409
    elsewhere = client_for(server, "idem-other").post(
        "/v1/jobs", json=body, headers={"Idempotency-Key": "order-1"})
    assert elsewhere.status_code == 202 and elsewhere.json()["id"] != first.json()["id"]
    fresh = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-2"})
    assert fresh.json()["id"] != first.json()["id"]


def test_pagination_and_status_filter(server: Server) -> None:
    client = client_for(server, "pager")
    submitted = [submit(client, two_site_transport(opening_b=150 + i)) for i in range(5)]
    seen: list[str] = []
    url: str | None = "/v1/jobs?limit=2"
    pages = 0
    while url:
        page = client.get(url).json()
        seen += [job["id"] for job in page["items"]]
        url = page["next"]
        pages += 1
    assert pages == 3
    assert seen == list(reversed(submitted))
    for job_id in submitted:
        assert finished(client, job_id)["status"] == "succeeded"
    succeeded = client.get("/v1/jobs", params={"status": "succeeded", "limit": 200}).json()
    assert {job["id"] for job in succeeded["items"]} == set(submitted)
    assert client.get("/v1/jobs", params={"status": "queued"}).json()["items"] == []
    assert client.get("/v1/jobs", params={"status": "bogus"}).status_code == 422


def test_tenants_see_only_their_own_jobs_and_datasets(server: Server) -> None:
    alice, bob = client_for(server, "alice"), client_for(server, "bob")
    job_id = submit(alice, two_site_transport())
    finished(alice, job_id)
    dataset = alice.post("/v1/datasets", json={"name": "mine", "instance": two_site_transport()})
    dataset_id = dataset.json()["id"]
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/result", f"/v1/jobs/{job_id}/log",
                 f"/v1/datasets/{dataset_id}", f"/v1/datasets/{dataset_id}/versions/1"):
        assert bob.get(path).status_code == 404, path
    assert bob.delete(f"/v1/jobs/{job_id}").status_code == 404
    assert job_id not in {job["id"] for job in bob.get("/v1/jobs").json()["items"]}
    assert bob.get("/v1/datasets").json()["items"] == []
    stolen = bob.post("/v1/jobs", json={"dataset": {"id": dataset_id}})
    assert stolen.status_code == 422


def test_cancel_queued_and_running_jobs_and_the_tenant_limit(server: Server) -> None:
    busy, other = client_for(server, "busy"), client_for(server, "other")
    long_body = long_job(100)
    long_job_id = submit(busy, long_body["instance"], **long_body["options"])
    view = wait_for(busy, long_job_id, lambda v: v["status"] == "running"
                    and v["progress"]["elapsed_s"] is not None)
    assert view["status"] == "running" and view["progress"]["elapsed_s"] > 0
    waiting = submit(busy, two_site_transport())
    elsewhere = submit(other, two_site_transport())
    assert finished(other, elsewhere)["status"] == "succeeded"  # the second process is free
    assert busy.get(f"/v1/jobs/{waiting}").json()["status"] == "queued"  # tenant limit 1

    for _ in range(20):  # the API answers while a solve runs
        answer = busy.get(f"/v1/jobs/{long_job_id}")
        assert answer.status_code == 200 and answer.json()["status"] == "running"

    cancelled = busy.delete(f"/v1/jobs/{waiting}")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    assert busy.delete(f"/v1/jobs/{long_job_id}").status_code == 202
    stopped = finished(busy, long_job_id, timeout=30)
    assert stopped["status"] == "cancelled", stopped
    # a job the tenant submits after the cancelled one runs and finishes: the dispatcher has
    # passed over the cancelled job, which it claims in submission order
    later = submit(busy, two_site_transport())
    assert finished(busy, later)["status"] == "succeeded"
    never = busy.get(f"/v1/jobs/{waiting}").json()
    assert never["status"] == "cancelled" and never["attempts"] == 0
    assert busy.delete(f"/v1/jobs/{waiting}").status_code == 409
    result = busy.get(f"/v1/jobs/{long_job_id}/result")
    if result.status_code == 404:
        # HiGHS did not look at the request within the cancel grace (its root relaxation does
        # not call back): the process was ended, and the job says so
        assert "did not stop within" in busy.get(f"/v1/jobs/{long_job_id}/log").text
        return
    assert result.status_code == 200
    # HiGHS looks at the stop request between its own steps: a solve that finishes its last
    # step after the request keeps the plan it proved
    assert result.json()["summary"]["status"] in ("cancelled", "optimal", "feasible")
    if result.json()["summary"]["objective"] is not None:  # stopped with a plan in hand
        assert result.json()["check"]["ok"] is True


def test_datasets_are_versioned_and_solved_by_reference(server: Server) -> None:
    client = client_for(server, "planner")
    created = client.post("/v1/datasets", json={"name": "two-sites",
                                                 "instance": two_site_transport()})
    assert created.status_code == 201
    dataset = created.json()
    assert dataset["latest_version"] == 1 and dataset["versions"][0]["counts"]["sites"] == 2
    second = client.post(f"/v1/datasets/{dataset['id']}/versions",
                         json={"instance": two_site_transport(capacity=100), "note": "small"})
    assert second.json()["latest_version"] == 2
    third = client.post("/v1/datasets", json={"name": "two-sites",
                                               "instance": two_site_transport()})
    assert third.json()["id"] == dataset["id"] and third.json()["latest_version"] == 3

    latest = client.post("/v1/jobs", json={"dataset": {"id": dataset["id"], "version": 2}})
    first = client.post("/v1/jobs", json={"dataset": {"id": dataset["id"], "version": 1}})
    assert latest.json()["dataset"] == {"id": dataset["id"], "version": 2}
    finished(client, latest.json()["id"])
    finished(client, first.json()["id"])
    assert checked_result(client, latest.json()["id"])["summary"]["objective"] == (
        pytest.approx(320))
    assert checked_result(client, first.json()["id"])["summary"]["objective"] == (
        pytest.approx(290))

    stored = client.get(f"/v1/datasets/{dataset['id']}/versions/2").json()
    assert stored["site_tiers"][0]["capacity_hours"] == 100
    assert client.get(f"/v1/datasets/{dataset['id']}/versions/9").status_code == 404
    missing = client.post("/v1/jobs", json={"dataset": {"id": dataset["id"], "version": 9}})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "dataset", "version"]
    invalid = two_site_transport()
    del invalid["sites"]
    rejected = client.post("/v1/datasets", json={"name": "broken", "instance": invalid})
    assert rejected.status_code == 422
    assert rejected.json()["detail"][0]["table"] == "sites"


def test_the_flagship_csv_folder_is_imported_zipped_and_validated(server: Server) -> None:
    client = client_for(server, "flagship")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(Path(flagship_path()).iterdir()):
            if path.suffix in (".csv", ".json"):
                bundle.write(path, f"us_ai_racks/{path.name}")
    response = client.post("/v1/datasets/import", params={"name": "us_ai_racks"},
                           content=archive.getvalue(),
                           headers={"content-type": "application/zip"})
    assert response.status_code == 201, response.text
    assert response.json()["versions"][0]["counts"]["demand"] == len(flagship()["demand"])
    not_zip = client.post("/v1/datasets/import", params={"name": "x"}, content=b"hello",
                          headers={"content-type": "application/zip"})
    assert not_zip.status_code == 422
    wrong_type = client.post("/v1/datasets/import", params={"name": "x"}, content=b"hello",
                             headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415

    report = client.post("/v1/validate", json={"instance": flagship()}).json()
    assert report["valid"] is True and report["fits"] is True
    assert report["estimate"]["variables"] > 10_000
    broken = flagship()
    broken["offers"][3]["unit_price"] = "cheap"
    broken["demand"][0]["customer"] = "nobody"
    report = client.post("/v1/validate", json={"instance": broken}).json()
    assert report["valid"] is False
    assert ("offers", 4, "unit_price") in {(e["table"], e["row"], e["column"])
                                           for e in report["errors"]}


def test_health_and_readiness(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready == {"status": "ready", "checks": {"database": "ok", "schema": "ok",
                                                   "executor": "ok"}}
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert "Network" in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("description") or operation.get("summary"), (path, method)
