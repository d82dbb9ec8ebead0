"""Messy and hostile input over HTTP, through a real `reshore serve` process: JSON bodies,
zipped CSV folders and workbooks parse as the CLI parses them, and every fault answers with
its table, row, column and value (422, or `valid: false` from /v1/validate), never with a
Python exception's text."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reshore.api.instances import XLSX
from tests.api.support import Server, new_key
from tests.forms import write_form
from tests.instances import tariff_flip


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client(new_key(server.database_url, "input-errors")) as opened:
        yield opened


def structured(errors: list[dict[str, Any]]) -> set[tuple[str, int | None, str | None]]:
    for error in errors:
        assert "Traceback" not in error["message"] and "Error:" not in error["message"], error
    return {(e["table"], e["row"], e["column"]) for e in errors}


def zipped(folder: Path) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in folder.iterdir():
            bundle.write(path, f"instance/{path.name}")
    return archive.getvalue()


def test_validate_names_an_empty_key_and_skips_blank_rows(client: httpx.Client) -> None:
    raw = tariff_flip()
    raw["demand"] += [{"customer": None, "product": "widget", "period": "P1", "quantity": 5},
                      {"customer": None, "product": None, "period": None, "quantity": None}]
    answer = client.post("/v1/validate", json={"instance": raw})
    assert answer.status_code == 200
    report = answer.json()
    assert report["valid"] is False
    assert structured(report["errors"]) == {("demand", 2, "customer")}
    assert report["errors"][0]["loc"] == ["body", "instance", "demand", 1, "customer"]


def test_a_job_with_numbers_beyond_range_and_control_characters_is_a_structured_422(
        client: httpx.Client) -> None:
    raw = tariff_flip()
    raw["offers"][0]["unit_price"] = 1e308
    raw["customers"][0]["customer"] = "C\u0000"
    answer = client.post("/v1/jobs", json={"instance": raw})
    assert answer.status_code == 422
    errors = answer.json()["detail"]
    assert {("offers", 1, "unit_price"), ("customers", 1, "customer")} <= structured(errors)
    messages = {(e["table"], e["column"]): e["message"] for e in errors}
    assert messages["offers", "unit_price"] == ("must be at most 1e+12, the column's range"
                                                " (got 1e+308)")
    assert messages["customers", "customer"].startswith("must be printable characters only")


def test_a_job_asking_for_too_many_threads_is_a_structured_422(client: httpx.Client) -> None:
    raw = tariff_flip()
    raw["settings"]["solver"] = {"threads": 100_000}
    answer = client.post("/v1/jobs", json={"instance": raw})
    assert answer.status_code == 422
    assert structured(answer.json()["detail"]) == {("settings", None, "solver.threads")}


def test_a_zipped_semicolon_csv_folder_with_decimal_commas_imports(
        client: httpx.Client, tmp_path: Path) -> None:
    raw = tariff_flip()
    raw["offers"][0]["unit_price"] = 10.5
    folder = write_form(raw, "csv", tmp_path, separator=";", decimal=",")
    answer = client.post("/v1/datasets/import", params={"name": "semicolons"},
                         content=zipped(folder), headers={"content-type": "application/zip"})
    assert answer.status_code == 201, answer.text
    version = client.get(f"/v1/datasets/{answer.json()['id']}/versions/1").json()
    assert version["offers"][0]["unit_price"] == 10.5


def test_a_zipped_folder_with_an_empty_demand_file_is_a_structured_422(
        client: httpx.Client, tmp_path: Path) -> None:
    folder = write_form(tariff_flip(), "csv", tmp_path)
    (folder / "demand.csv").write_text("")
    answer = client.post("/v1/datasets/import", params={"name": "empty-demand"},
                         content=zipped(folder), headers={"content-type": "application/zip"})
    assert answer.status_code == 422
    errors = answer.json()["detail"]
    assert structured(errors) == {("demand", None, None)}
    assert "no rows" in errors[0]["message"]


def test_a_workbook_with_a_misspelt_column_is_a_422_with_did_you_mean(
        client: httpx.Client, tmp_path: Path) -> None:
    raw = tariff_flip()
    raw["demand"][0]["quantiy"] = raw["demand"][0].pop("quantity")
    path = write_form(raw, "xlsx", tmp_path)
    answer = client.post("/v1/datasets/import", params={"name": "misspelt"},
                         content=path.read_bytes(), headers={"content-type": XLSX})
    assert answer.status_code == 422
    errors = answer.json()["detail"]
    assert structured(errors) == {("demand", 1, "quantiy")}
    assert errors[0]["message"].endswith("did you mean 'quantity'?")


def test_without_lanes_a_job_serves_every_unit_at_great_circle_cost(
        client: httpx.Client) -> None:
    """The hand-worked instance of tests/test_defaults.py: 10 x 2 x 111.195 km x 0.01."""
    from tests.api.support import checked_result, finished
    from tests.test_defaults import on_the_equator

    answer = client.post("/v1/jobs", json={"instance": on_the_equator()})
    assert answer.status_code == 202, answer.text
    assert finished(client, answer.json()["id"])["plan_status"] == "optimal"
    plan = checked_result(client, answer.json()["id"])
    assert plan["summary"]["objective"] == pytest.approx(22.239, abs=1e-3)
    assert plan["summary"]["service_level"] == 1.0


def test_json_null_means_default_over_http(client: httpx.Client) -> None:
    raw = tariff_flip()
    raw["offers"][0].update(origin_country=None, capacity_per_period=None)
    raw["settings"]["unmet_penalty"] = None
    raw["policies"] = None
    report = client.post("/v1/validate", json={"instance": raw}).json()
    assert report["valid"] is True, report["errors"]
