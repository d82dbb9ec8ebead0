"""Uploaded instances (a zipped CSV folder or an xlsx workbook) are read and validated in a
child process bounded in memory (RLIMIT_AS) and time, never in the API server itself.

The child streams every archive member it reads, counting unpacked bytes and data rows against
the server's limits before anything is parsed, and checks the used range of every worksheet
(a single cell in column XFD would make a reader walk 16,384 columns per row). It then checks
the tables against the data contract. It answers on standard output with one JSON line: the
validated instance's hash, rows per table, warnings and figures (what a job of it needs,
`api.figures`), followed by the instance's canonical JSON (which the server stores without
parsing it); or the first ERRORS_SHOWN input errors with their count per kind; or the status
and reason to refuse the upload with:

    python -m reshore.api.uploads KIND UNPACKED_BYTES ROWS COLUMNS MEMORY_MB ERRORS_SHOWN \
        < upload
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any
from xml.etree.ElementTree import iterparse

if TYPE_CHECKING:
    from reshore.optimizer.io import RawInstance
    from reshore.optimizer.schema import InvalidNetwork

MAX_FILES = 64
CHUNK = 1 << 16
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_TYPES = ("application/zip", "application/x-zip-compressed")
SETTINGS_FILE = "settings.json"


class UploadRefusedError(Exception):
    """The upload is refused: `status` (413 or 422) and the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class UploadLimits:
    unpacked_bytes: int
    rows: int
    columns: int
    memory_mb: int
    time_limit_s: float
    errors_shown: int = 100


@dataclass(frozen=True)
class ValidUpload:
    """An upload that passed the data contract, as the child answered it."""

    digest: str
    document: str
    """the instance's canonical JSON (validated, defaults filled in), to store as it is"""
    counts: dict[str, int]
    warnings: list[str]
    figures: str
    """what a job of the instance needs (`api.figures.InstanceFigures`, as JSON)"""


class UploadInvalidError(Exception):
    """The upload breaks the data contract: the first errors (dicts of table, row, column,
    message), how many there are and how many of each kind."""

    def __init__(self, errors: list[dict[str, Any]], count: int,
                 by_kind: dict[str, int]) -> None:
        super().__init__(f"{count} error(s) in the upload")
        self.errors, self.count, self.by_kind = errors, count, by_kind


@dataclass
class _Budget:
    """What the upload has used of its limits so far."""

    limits: UploadLimits
    unpacked: int = 0
    rows: int = 0

    def add_bytes(self, count: int, where: str) -> None:
        self.unpacked += count
        if self.unpacked > self.limits.unpacked_bytes:
            raise UploadRefusedError(413, f"the upload unpacks to more than"
                                     f" {self.limits.unpacked_bytes:,} bytes (reached in"
                                     f" {where}); this server accepts no more")

    def add_rows(self, count: int, where: str) -> None:
        self.rows += count
        if self.rows > self.limits.rows:
            raise UploadRefusedError(413, f"the upload holds more than {self.limits.rows:,}"
                                     f" data rows (reached in {where}); this server accepts"
                                     " no more")


# --- the API side ---------------------------------------------------------------------------


def read_upload(body: bytes, content_type: str, limits: UploadLimits) -> ValidUpload:
    """The validated instance of an upload, read and checked in a bounded child process.
    Raises `UploadRefusedError` (413 or 422 with the reason), `UploadInvalidError` (the
    contract's errors), or `ValueError` for a media type that is neither zip nor xlsx."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in ZIP_TYPES:
        form = "zip"
    elif kind == XLSX:
        form = "xlsx"
    else:
        raise ValueError(f"send application/zip (a zipped CSV folder) or {XLSX}")
    command = [sys.executable, "-m", "reshore.api.uploads", form, str(limits.unpacked_bytes),
               str(limits.rows), str(limits.columns), str(limits.memory_mb),
               str(limits.errors_shown)]
    try:
        done = subprocess.run(command, input=body, capture_output=True,
                              timeout=limits.time_limit_s, check=False)
    except subprocess.TimeoutExpired as error:
        raise UploadRefusedError(413, f"the upload took longer than {limits.time_limit_s:g} s"
                                 " to read; send a smaller one") from error
    head, _, document = done.stdout.partition(b"\n")
    try:
        answer: dict[str, Any] = json.loads(head)
    except ValueError:
        answer = {}
    if "valid" in answer:
        valid = answer["valid"]
        return ValidUpload(digest=valid["digest"], document=document.decode("utf-8"),
                           counts=valid["counts"], warnings=valid["warnings"],
                           figures=valid["figures"])
    if "refused" in answer:
        raise UploadRefusedError(int(answer["refused"]["status"]), answer["refused"]["reason"])
    if "errors" in answer:
        raise UploadInvalidError(answer["errors"], answer["error_count"],
                                 answer["errors_by_kind"])
    if done.returncode < 0 or b"MemoryError" in done.stderr:
        raise UploadRefusedError(413, f"reading the upload needs more than the"
                                 f" {limits.memory_mb:,} MiB this server allows; send a"
                                 " smaller one")
    raise UploadRefusedError(422, "the upload could not be read")


# --- the child side -------------------------------------------------------------------------


def read_in_child(form: str, body: bytes, limits: UploadLimits) -> RawInstance:
    """The raw tables and the reader's warnings, or raise `UploadRefusedError` /
    `InvalidNetwork`."""
    from reshore.optimizer.io import read_instance
    from reshore.optimizer.schema import InvalidNetwork

    with tempfile.TemporaryDirectory(prefix="reshore-upload-") as folder:
        target = Path(folder)
        budget = _Budget(limits)
        try:
            archive = zipfile.ZipFile(_bytes_io(body))
        except (zipfile.BadZipFile, ValueError) as error:
            raise UploadRefusedError(422, f"not a {form} file: {error}") from error
        with archive:
            if form == "zip":
                source = _unpack_csv_folder(archive, target, budget)
            else:
                _check_workbook(archive, budget)
                source = target / "instance.xlsx"
                source.write_bytes(body)
        try:
            return read_instance(source)
        except (InvalidNetwork, MemoryError):
            raise
        except Exception as error:  # whatever the reader trips on is the file's fault
            raise UploadRefusedError(422, f"the {form} file could not be read:"
                                     f" {_one_line(error)}") from error


def _bytes_io(body: bytes) -> IO[bytes]:
    import io

    return io.BytesIO(body)


def _one_line(error: BaseException) -> str:
    """An exception as one line without server paths."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return re.sub(r"(/[^\s/'\"]+)+/", "", text)


def _stream(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: _Budget,
            sink: IO[bytes] | None, count_rows: bool) -> None:
    """Unpack one member chunk by chunk, counting bytes (and lines) against the budget."""
    name = member.filename
    try:
        with archive.open(member) as source:
            while chunk := source.read(CHUNK):
                budget.add_bytes(len(chunk), name)
                if count_rows:
                    budget.add_rows(chunk.count(b"\n"), name)
                if sink is not None:
                    sink.write(chunk)
    except UploadRefusedError:
        raise
    except NotImplementedError as error:  # before RuntimeError, its base
        raise UploadRefusedError(422, f"archive entry {name} uses a compression method this"
                                 f" server does not read ({member.compress_type}); use"
                                 " deflate") from error
    except RuntimeError as error:  # zipfile: an encrypted entry
        raise UploadRefusedError(422, f"archive entry {name} is encrypted; send it"
                                 " without a password") from error
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise UploadRefusedError(422, f"archive entry {name} is damaged:"
                                 f" {_one_line(error)}") from error


def _unpack_csv_folder(archive: zipfile.ZipFile, target: Path, budget: _Budget) -> Path:
    """Unpack the CSV folder (the folder holding settings.json), streaming."""
    members = [m for m in archive.infolist() if not m.is_dir()]
    settings = [m for m in members if PurePosixPath(m.filename).name == SETTINGS_FILE]
    if len(settings) != 1:
        raise UploadRefusedError(422, f"the archive must hold exactly one {SETTINGS_FILE}"
                                 " beside the table CSV files")
    home = PurePosixPath(settings[0].filename).parent
    chosen = [m for m in members if PurePosixPath(m.filename).parent == home
              and PurePosixPath(m.filename).suffix.lower() in (".csv", ".json")]
    if len(chosen) > MAX_FILES:
        raise UploadRefusedError(413, f"the archive holds more than {MAX_FILES} tables")
    for member in chosen:
        name = PurePosixPath(member.filename).name
        with (target / name).open("wb") as sink:
            _stream(archive, member, budget, sink, count_rows=name.lower().endswith(".csv"))
    return target


CELL_REFERENCE = re.compile(r"([A-Z]+)(\d+)")


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _check_workbook(archive: zipfile.ZipFile, budget: _Budget) -> None:
    """Stream every member (a bomb is refused by its unpacked size) and walk each sheet's
    cells: rows against the row limit, the used columns against the column limit."""
    for member in archive.infolist():
        if member.is_dir():
            continue
        _stream(archive, member, budget, None, count_rows=False)
    sheets = [m for m in archive.infolist()
              if m.filename.startswith("xl/worksheets/") and m.filename.endswith(".xml")]
    for member in sheets:
        _check_sheet(archive, member, budget)


def _check_sheet(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: _Budget) -> None:
    name = PurePosixPath(member.filename).stem
    with archive.open(member) as source:
        try:
            for _event, element in iterparse(source, events=("end",)):
                tag = element.tag.rpartition("}")[2]
                if tag == "c":
                    found = CELL_REFERENCE.fullmatch(element.get("r") or "")
                    if found and _column_number(found.group(1)) > budget.limits.columns:
                        raise UploadRefusedError(
                            413, f"worksheet {name} uses column {found.group(1)} (cell"
                            f" {found.group(0)}); this server reads at most"
                            f" {budget.limits.columns} columns per sheet")
                elif tag == "row":
                    budget.add_rows(1, f"worksheet {name}")
                    element.clear()
        except UploadRefusedError:
            raise
        except Exception as error:
            raise UploadRefusedError(422, f"worksheet {name} is not valid XML:"
                                     f" {_one_line(error)}") from error


def limit_memory(memory_mb: int) -> None:
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def validate_in_child(raw: RawInstance) -> ValidUpload:
    """Check the raw tables against the data contract; raises `InvalidNetwork`."""
    from reshore.api.figures import figures_of
    from reshore.api.instances import counts
    from reshore.optimizer.schema import (
        ContractError,
        InvalidNetwork,
        canonical_json,
        hash_of_canonical,
        parse_network,
    )

    try:
        network = parse_network(raw.tables, raw.warnings)
    except (InvalidNetwork, MemoryError):
        raise
    except Exception as error:  # a gap in the contract's checks is the file's error, not a 500
        raise InvalidNetwork([ContractError("instance", None, None, "the instance could not be"
                                            f" validated ({type(error).__name__})")]) from error
    document = canonical_json(network)
    return ValidUpload(digest=hash_of_canonical(document), document=document,
                       counts=counts(raw.tables), warnings=list(network.warnings),
                       figures=figures_of(network).to_json())


def errors_answer(invalid: InvalidNetwork, shown: int) -> dict[str, Any]:
    """The child's answer for an upload with contract errors: the first `shown`, the count
    and the count per kind (so that the answer stays small whatever the upload holds)."""
    from reshore.api.instances import errors_by_kind

    return {"errors": [{"table": e.table, "row": e.row, "column": e.column,
                        "message": e.message} for e in invalid.errors[:shown]],
            "error_count": len(invalid.errors),
            "errors_by_kind": errors_by_kind(invalid.errors)}


def main(argv: list[str]) -> int:
    form, unpacked, rows, columns, memory_mb, shown = argv
    limit_memory(int(memory_mb))
    from reshore.optimizer.schema import InvalidNetwork

    limits = UploadLimits(unpacked_bytes=int(unpacked), rows=int(rows), columns=int(columns),
                          memory_mb=int(memory_mb), time_limit_s=0, errors_shown=int(shown))
    body = sys.stdin.buffer.read()
    document = ""
    try:
        valid = validate_in_child(read_in_child(form, body, limits))
        answer: dict[str, Any] = {"valid": {"digest": valid.digest, "counts": valid.counts,
                                            "warnings": valid.warnings,
                                            "figures": valid.figures}}
        document = valid.document
    except UploadRefusedError as refused:
        answer = {"refused": {"status": refused.status, "reason": refused.reason}}
    except InvalidNetwork as invalid:
        answer = errors_answer(invalid, limits.errors_shown)
    except MemoryError:
        answer = {"refused": {"status": 413, "reason": "reading the upload needs more than"
                              f" the {memory_mb} MiB this server allows; send a smaller one"}}
    sys.stdout.write(json.dumps(answer, default=str) + "\n" + document)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
