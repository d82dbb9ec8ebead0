"""Uploads are read where they cannot hurt: limits checked while streaming, before parsing, in a
bounded child process; damaged archives and odd workbooks are 422 with a reason; the error list
is capped. Against a real `reshore serve`; the API process's memory is read from /proc."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import openpyxl
import pytest

from reshore.api import db
from reshore.optimizer.io import write_csv_folder, write_xlsx
from reshore.optimizer.schema import parse_network
from tests.api.support import (
    Server,
    TreeMemory,
    checked_result,
    finished,
    new_key,
    rss_kib,
)
from tests.instances import two_site_transport

ZIP = {"content-type": "application/zip"}
XLSX = {"content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@pytest.fixture(scope="module")
def upload_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    folder = tmp_path_factory.mktemp("uploads")
    url = f"sqlite:///{folder / 'reshore.db'}"
    db.migrate(url)
    token = new_key(url, "acme")
    server = Server(url, folder / "server.log", workers=1).start()
    yield server, token
    server.stop()


def _folder(tmp_path: Path) -> Path:
    return write_csv_folder(parse_network(two_site_transport()), tmp_path / "instance")


def _zip(files: dict[str, bytes]) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return archive.getvalue()


def _csv_zip(tmp_path: Path, **replace: bytes) -> bytes:
    folder = _folder(tmp_path)
    files = {f"instance/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
    files.update({f"instance/{name}": data for name, data in replace.items()})
    return _zip(files)


def _post(server: Server, token: str, body: bytes, headers: dict[str, str]
          ) -> tuple[httpx.Response, float, TreeMemory]:
    assert server.process is not None
    with TreeMemory(server.process.pid) as memory, server.client(token) as client:
        started = time.monotonic()
        answer = client.post("/v1/datasets/import", params={"name": "upload"}, content=body,
                             headers=headers)
        elapsed = time.monotonic() - started
    return answer, elapsed, memory


def test_a_zip_of_repeated_rows_is_refused_while_streaming(
        upload_server: tuple[Server, str], tmp_path: Path) -> None:
    """10.5 MB of one demand row repeated packs into about 21 KB; the 200,000-row limit stops
    the unpacking, in the child process, and the API process does not grow."""
    server, token = upload_server
    header = b"customer,product,period,quantity\n"
    body = _csv_zip(tmp_path, **{"demand.csv": header + b"X,rack,P1,60\n" * 810_000})
    assert len(body) < 60_000
    answer, elapsed, memory = _post(server, token, body, ZIP)
    assert answer.status_code == 413, answer.text
    assert "more than 200,000 data rows" in answer.json()["detail"]
    assert memory.peak_root_mib < 400
    print(f"zip of repeated rows ({len(body):,} bytes): 413 in {elapsed:.2f} s, API process"
          f" peak {memory.peak_root_mib:.0f} MiB, tree peak {memory.peak_mib:.0f} MiB")


def test_the_error_list_is_capped_with_counts_per_kind(
        upload_server: tuple[Server, str], tmp_path: Path) -> None:
    server, token = upload_server
    header = b"customer,product,period,quantity\n"
    body = _csv_zip(tmp_path, **{"demand.csv": header + b"X,rack,P1,60\n" * 5000})
    answer, _elapsed, _memory = _post(server, token, body, ZIP)
    assert answer.status_code == 422, answer.text[:500]
    found = answer.json()
    assert len(found["detail"]) == 100
    assert found["error_count"] >= 4999
    assert sum(found["errors_by_kind"].values()) == found["error_count"]
    assert len(answer.content) < 100_000


def test_a_workbook_using_column_xfd_is_refused_quickly(
        upload_server: tuple[Server, str], tmp_path: Path) -> None:
    server, token = upload_server
    path = write_xlsx(parse_network(two_site_transport()), tmp_path / "instance.xlsx")
    book = openpyxl.load_workbook(path)
    for row in range(1, 2001):
        book["demand"].cell(row=row, column=16384, value=1)
    book.save(path)
    answer, elapsed, memory = _post(server, token, path.read_bytes(), XLSX)
    assert answer.status_code == 413, answer.text
    assert "column XFD" in answer.json()["detail"]
    print(f"xlsx with 2,000 cells in XFD ({path.stat().st_size:,} bytes): 413 in"
          f" {elapsed:.2f} s, API process peak {memory.peak_root_mib:.0f} MiB")


def test_a_settings_sheet_with_risk_and_risk_alpha_is_422(
        upload_server: tuple[Server, str], tmp_path: Path) -> None:
    server, token = upload_server
    path = write_xlsx(parse_network(two_site_transport()), tmp_path / "instance.xlsx")
    book = openpyxl.load_workbook(path)
    book["settings"].append(["risk", 5])
    book["settings"].append(["risk.alpha", 0.9])
    book.save(path)
    answer, _elapsed, _memory = _post(server, token, path.read_bytes(), XLSX)
    assert answer.status_code == 422, answer.text
    assert "Traceback" not in answer.text and "/" not in answer.json()["detail"]


def _patched(body: bytes, local_offset: int, central_offset: int, value: bytes) -> bytes:
    """Every entry's header field rewritten (local and central directory headers)."""
    data = bytearray(body)
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        start = data.find(signature)
        while start != -1:
            data[start + offset:start + offset + len(value)] = value
            start = data.find(signature, start + 4)
    return bytes(data)


def test_damaged_encrypted_and_unknown_method_zips_are_422(
        upload_server: tuple[Server, str], tmp_path: Path) -> None:
    server, token = upload_server
    body = _csv_zip(tmp_path)
    archive = zipfile.ZipFile(io.BytesIO(body))
    first = archive.infolist()[0]
    data = bytearray(body)
    data[first.header_offset + 30 + len(first.filename) + 2] ^= 0xFF  # compressed bytes
    cases = {"bad CRC": bytes(data),
             "encrypted": _patched(body, 6, 8, b"\x01\x00"),
             "unknown method": _patched(body, 8, 10, b"\x61\x00")}
    words = {"bad CRC": "damaged", "encrypted": "encrypted", "unknown method": "compression"}
    for case, upload in cases.items():
        answer, _elapsed, _memory = _post(server, token, upload, ZIP)
        assert answer.status_code == 422, (case, answer.text)
        reason = answer.json()["detail"]
        print(f"{case}: {answer.status_code} {reason}")
        assert "instance/" in reason and words[case] in reason, (case, reason)


def test_validating_an_upload_does_not_grow_the_api_process(
        upload_server: tuple[Server, str], tmp_path: Path) -> None:
    """50,000 demand rows, one row repeated (within the row limit, so the reader lets it
    through): checking them against the contract (every row parsed, every duplicate an error)
    runs in the bounded child process; the API process only relays the first 100 errors and
    the counts, and does not grow."""
    server, token = upload_server
    assert server.process is not None
    header = b"customer,product,period,quantity\n"
    body = _csv_zip(tmp_path, **{"demand.csv": header + b"X,rack,P1,60\n" * 50_000})
    assert len(body) < 20_000
    before_mib = rss_kib(server.process.pid) / 1024
    answer, elapsed, memory = _post(server, token, body, ZIP)
    print(f"zip of 50,000 repeated rows ({len(body):,} bytes): {answer.status_code} in"
          f" {elapsed:.2f} s, API process {before_mib:.0f} MiB before, peak"
          f" {memory.peak_root_mib:.0f} MiB; tree peak {memory.peak_mib:.0f} MiB")
    assert answer.status_code == 422, answer.text[:500]
    found = answer.json()
    assert len(found["detail"]) == 100
    assert found["error_count"] == 49_999
    assert found["errors_by_kind"] == {"demand.scenario": 49_999}
    assert found["detail"][0]["row"] == 2 and "duplicate key" in found["detail"][0]["message"]
    assert len(answer.content) < 100_000
    assert memory.peak_root_mib < before_mib + 40
    assert memory.peak_mib > memory.peak_root_mib + 100  # the work happened in the child


def test_the_warnings_of_an_upload_reach_its_dataset_and_jobs(
        upload_server: tuple[Server, str], tmp_path: Path) -> None:
    """A scenarios.csv with a header and no rows (a reader's warning) and a component no BOM
    row uses (a validation warning): the import answers both, the dataset keeps them, a job of
    the dataset carries them and is solved."""
    server, token = upload_server
    body = _csv_zip(tmp_path, **{"scenarios.csv": b"scenario,probability\n",
                                 "components.csv": b"component,name\nbolt,Bolt\n"})
    answer, _elapsed, _memory = _post(server, token, body, ZIP)
    assert answer.status_code == 201, answer.text
    warnings = answer.json()["versions"][-1]["warnings"]
    assert "scenarios.csv has a header but no rows: read as a table with no rows" in warnings
    assert any("'bolt' in no bom row" in warning for warning in warnings), warnings
    dataset = answer.json()["id"]
    with server.client(token) as client:
        assert client.get(f"/v1/datasets/{dataset}").json()["versions"][-1]["warnings"] == (
            warnings)
        job = client.post("/v1/jobs", json={"dataset": {"id": dataset}}).json()
        assert job["warnings"] == warnings
        done = finished(client, job["id"], timeout=90)
        assert done["status"] == "succeeded" and done["warnings"] == warnings
        assert checked_result(client, job["id"])["summary"]["objective"] == pytest.approx(290)
        plain = client.post("/v1/jobs", json={"instance": two_site_transport()}).json()
        assert plain["warnings"] == []
        checked = client.post("/v1/validate", json={"instance": {
            **two_site_transport(), "components": [{"component": "bolt"}]}}).json()
        assert checked["valid"] and any("'bolt'" in w for w in checked["warnings"]), checked


def test_an_empty_sheet_of_a_workbook_is_a_warning(
        upload_server: tuple[Server, str], tmp_path: Path) -> None:
    server, token = upload_server
    path = write_xlsx(parse_network(two_site_transport()), tmp_path / "instance.xlsx")
    book = openpyxl.load_workbook(path)
    book.create_sheet("tariffs").append(["scenario", "origin_country", "rate"])
    book.save(path)
    answer, _elapsed, _memory = _post(server, token, path.read_bytes(), XLSX)
    assert answer.status_code == 201, answer.text
    assert answer.json()["versions"][-1]["warnings"] == [
        "sheet tariffs has no rows: read as a table with no rows"]
