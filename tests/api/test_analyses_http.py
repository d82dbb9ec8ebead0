"""Analyses over HTTP on the real server (local executor): the figures of `reshore analyze
--json` on an instance worked out by hand, progress by sub-solve, another tenant sees
nothing, cancelling stops a running analysis."""

from __future__ import annotations

import pytest

from tests.api.support import FINAL, Server, flagship, new_key, wait_for
from tests.api.test_celery import Cluster, cluster  # noqa: F401 - the Celery cluster fixture
from tests.instances import capacity_gamble

ANALYSIS = {"break_even": ["MX"], "tolerance": 0.01, "max_rate": 1.0, "site_values": True}


def test_an_analysis_gives_the_hand_worked_figures_and_stays_with_its_tenant(
        server: Server) -> None:
    """capacity_gamble (tests/instances.py): rp 180 (S large), ws 0.3 x 180 = 54, ev 100
    (S small), eev 0.7 x 100 + 0.3 x (100 + 50 x 10) = 250, evpi 126, vss 70.
    Frontier: large costs 180 in both scenarios, so E[cost] = CVaR = 180 at every weight
    (small: E 250, CVaR 600; nothing: E 300, CVaR 1000); no point dominates another.
    Break-even on MX: nothing comes from Mexico, the decisions at 0 % and 100 % are the
    same -> no rate, 2 solves. Site value of S: forced open, the base opens it already, 0;
    forbidden, no site is left, which the data contract does not allow: no figure, the
    status says why (not solved).
    Sub-solves at most: 3 + 2 scenarios + 6 weights + (2 + ceil(log2(1 / 0.01)) = 9)
    + (1 + 2 x 1) = 23; run: 5 + 6 + 2 + 2 = 15."""
    with server.client(new_key(server.database_url, "analyst")) as client, \
            server.client(new_key(server.database_url, "stranger")) as stranger:
        submitted = client.post("/v1/analyses", json={
            "instance": capacity_gamble(), "options": {"mip_gap": 1e-9, "time_limit_s": 20},
            "analysis": ANALYSIS})
        assert submitted.status_code == 202, submitted.text
        analysis = submitted.json()
        assert submitted.headers["location"] == f"/v1/analyses/{analysis['id']}"
        assert analysis["time_limit_s"] == pytest.approx(23 * 20)
        assert analysis["links"]["result"] == f"/v1/analyses/{analysis['id']}/result"
        view = wait_for(client, analysis["id"], lambda v: v["status"] in FINAL, timeout=240)
        assert view["status"] == "succeeded", view["error"]
        assert client.get(f"/v1/analyses/{analysis['id']}").json()["status"] == "succeeded"

        figures = client.get(f"/v1/analyses/{analysis['id']}/result").json()
        assert list(figures) == ["rp", "ws", "ev", "eev", "evpi", "vss", "ws_by_scenario",
                                 "rp_decisions", "ev_decisions", "frontier", "break_even",
                                 "site_values"]
        expected = {"rp": 180, "ws": 54, "ev": 100, "eev": 250, "evpi": 126, "vss": 70}
        assert {k: figures[k] for k in expected} == pytest.approx(expected)
        assert figures["ws_by_scenario"] == pytest.approx({"calm": 0, "boom": 180})
        assert figures["rp_decisions"] == "S opens large in P1"
        assert figures["ev_decisions"] == "S opens small in P1"
        assert len(figures["frontier"]) == 6
        for point in figures["frontier"]:
            assert (point["expected_cost"], point["cvar"]) == pytest.approx((180, 180))
            assert point["decisions"] == "S opens large in P1" and not point["dominated"]
        [mx] = figures["break_even"]
        assert mx["rate"] is None and mx["solves"] == 2
        assert mx["decisions_below"] == mx["decisions_above"] == "S opens large in P1"
        [site] = figures["site_values"]
        assert site["site"] == "S"
        assert site["decrease_if_forced_open"] == pytest.approx(0)
        assert site["forced_status"] == "optimal"
        assert site["increase_if_forbidden"] is None
        assert site["forbidden_status"].startswith("invalid: "), site

        log = client.get(f"/v1/jobs/{analysis['id']}/log").text
        assert "sub-solve 1 of at most 23: rp" in log
        assert "sub-solve 15 of at most 23: force:S" in log
        assert "sub-solve 16" not in log

        for path in (f"/v1/analyses/{analysis['id']}",
                     f"/v1/analyses/{analysis['id']}/result",
                     f"/v1/jobs/{analysis['id']}"):
            assert stranger.get(path).status_code == 404, path
        assert stranger.delete(f"/v1/analyses/{analysis['id']}").status_code == 404
        assert client.get(f"/v1/jobs/{analysis['id']}/result",
                          params={"format": "xlsx"}).status_code == 404
        assert client.get(f"/v1/jobs/{analysis['id']}/report").status_code == 409


def test_an_analysis_of_a_stored_dataset_takes_its_time_limit_from_the_recorded_figures(
        server: Server) -> None:
    """A stored dataset is not parsed at submission: the recorded figures (2 scenarios, 1
    candidate site) give the sub-solves at most, 3 + 2 + 6 = 11 without break-even searches
    and site values, and the analysis gives the hand-worked rp 180 and vss 70."""
    with server.client(new_key(server.database_url, "dataset-analyst")) as client:
        dataset = client.post("/v1/datasets", json={"name": "gamble",
                                                    "instance": capacity_gamble()}).json()
        submitted = client.post("/v1/analyses", json={
            "dataset": {"id": dataset["id"]},
            "options": {"mip_gap": 1e-9, "time_limit_s": 20},
            "analysis": {"site_values": False}})
        assert submitted.status_code == 202, submitted.text
        analysis = submitted.json()
        assert analysis["time_limit_s"] == pytest.approx(11 * 20)
        assert analysis["dataset"] == {"id": dataset["id"], "version": 1}
        view = wait_for(client, analysis["id"], lambda v: v["status"] in FINAL, timeout=240)
        assert view["status"] == "succeeded", view["error"]
        figures = client.get(f"/v1/analyses/{analysis['id']}/result").json()
        assert (figures["rp"], figures["vss"]) == pytest.approx((180, 70))
        assert figures["site_values"] == []


def test_a_solve_job_is_no_analysis_and_bad_options_are_named(server: Server) -> None:
    with server.client(new_key(server.database_url, "analyst-2")) as client:
        job = client.post("/v1/jobs", json={"instance": capacity_gamble()}).json()
        assert client.get(f"/v1/analyses/{job['id']}").status_code == 404
        bad = client.post("/v1/analyses", json={"instance": capacity_gamble(),
                                                "analysis": {"tolerance": 0}})
        assert bad.status_code == 422 and "tolerance" in bad.text
        sneaked = client.post("/v1/jobs", json={"instance": capacity_gamble(),
                                                "options": {"analysis": {}}})
        assert sneaked.status_code == 422 and "POST /v1/analyses" in sneaked.text


def test_cancelling_a_running_analysis_stops_it(server: Server) -> None:
    with server.client(new_key(server.database_url, "analyst-cancel")) as client:
        analysis = client.post("/v1/analyses", json={
            "instance": flagship(), "options": {"time_limit_s": 60},
            "analysis": {"site_values": False}}).json()
        wait_for(client, analysis["id"], lambda v: "sub-solve" in (
            v["progress"]["message"] or ""), timeout=120, every=0.5)
        cancelled = client.delete(f"/v1/analyses/{analysis['id']}")
        assert cancelled.status_code == 202
        view = wait_for(client, analysis["id"], lambda v: v["status"] in FINAL, timeout=60,
                        every=0.5)
        assert view["status"] == "cancelled", view
        log = client.get(f"/v1/jobs/{analysis['id']}/log").text
        assert "sub-solve 1 of at most 15: rp" in log  # 3 + 6 scenarios + 6 weights
        assert "sub-solve 5 of" not in log  # the recourse problem stopped: no eev solve


def test_an_analysis_runs_on_a_celery_worker(cluster: Cluster) -> None:  # noqa: F811
    """capacity_gamble as above, without break-even and site values: 3 + 2 + 6 = 11
    sub-solves, all of them run."""
    submitted = cluster.client.post("/v1/analyses", json={
        "instance": capacity_gamble(), "options": {"mip_gap": 1e-9},
        "analysis": {"site_values": False}})
    assert submitted.status_code == 202, submitted.text
    analysis = submitted.json()
    view = wait_for(cluster.client, analysis["id"], lambda v: v["status"] in FINAL,
                    timeout=240, every=0.5)
    assert view["status"] == "succeeded", view["error"]
    figures = cluster.client.get(f"/v1/analyses/{analysis['id']}/result").json()
    expected = {"rp": 180, "ws": 54, "ev": 100, "eev": 250, "evpi": 126, "vss": 70}
    assert {k: figures[k] for k in expected} == pytest.approx(expected)
    assert figures["break_even"] == [] and figures["site_values"] == []
    log = cluster.client.get(f"/v1/jobs/{analysis['id']}/log").text
    assert "sub-solve 11 of at most 11: weight=1" in log
