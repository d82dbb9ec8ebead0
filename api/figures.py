"""What submitting a job of a stored dataset version needs, recorded with the version when its
instance is validated, so that a job, a what-if base or a schedule's run never parses a stored
instance inside the API server.

The figures are the size estimate (`api.estimate`), the periods and the instance's own solver
`threads` and `time_limit_s`; the version's warnings are kept beside them. An upload's child
process records them while it validates; a JSON instance's request computes them from the
network it validated anyway. A version stored before the figures existed has none: the first
job of it computes them once in a child process bounded like an upload's (RLIMIT_AS and a time
limit) and stores them:

    python -m reshore.api.figures MEMORY_MB ERRORS_SHOWN < canonical-instance-json
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reshore.api.estimate import SizeEstimate, estimate_size

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from reshore.api.models import DatasetVersion
    from reshore.optimizer.schema import Network


@dataclass(frozen=True)
class InstanceFigures:
    """A validated instance's figures for job submission."""

    estimate: SizeEstimate
    periods: tuple[str, ...]
    threads: int | None
    """`settings.solver.threads` of the instance"""
    time_limit_s: float | None
    """`settings.solver.time_limit_s` of the instance"""
    scenarios: int
    """tariff scenarios (an analysis's sub-solves depend on them)"""
    candidate_sites: int
    """candidate sites (an analysis values each)"""

    def to_json(self) -> str:
        return json.dumps({"estimate": self.estimate.as_dict(), "periods": list(self.periods),
                           "threads": self.threads, "time_limit_s": self.time_limit_s,
                           "scenarios": self.scenarios,
                           "candidate_sites": self.candidate_sites})

    @classmethod
    def from_json(cls, text: str) -> InstanceFigures:
        document = json.loads(text)
        return cls(estimate=SizeEstimate(**document["estimate"]),
                   periods=tuple(document["periods"]), threads=document["threads"],
                   time_limit_s=document["time_limit_s"], scenarios=document["scenarios"],
                   candidate_sites=document["candidate_sites"])


def figures_of(network: Network) -> InstanceFigures:
    """The figures of a validated instance."""
    solver = network.settings.solver
    return InstanceFigures(estimate=estimate_size(network),
                           periods=tuple(network.settings.periods), threads=solver.threads,
                           time_limit_s=solver.time_limit_s,
                           scenarios=len(network.scenarios),
                           candidate_sites=len(network.candidate_sites()))


@dataclass(frozen=True)
class ChildLimits:
    """Bounds of the child process that computes the figures of an older version."""

    memory_mb: int = 1024
    time_limit_s: float = 60.0
    errors_shown: int = 100


CHILD_LIMITS = ChildLimits()
"""The defaults (the server passes its upload limits instead)."""


class FiguresError(Exception):
    """The figures of a stored instance could not be computed: the reason, and the instance's
    first contract errors when it no longer passes the data contract."""

    def __init__(self, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.errors = reason, errors or []

    @classmethod
    def contract_broken(cls, answer: dict[str, Any]) -> FiguresError:
        """From a child process's errors answer (`uploads.errors_answer`)."""
        return cls(f"the stored instance breaks the data contract ({answer['error_count']}"
                   " error(s))", answer["errors"])


def figures_in_child(document: str, limits: ChildLimits) -> tuple[InstanceFigures, list[str]]:
    """The figures and warnings of a stored instance (its canonical JSON), validated in a
    bounded child process; raises `FiguresError`."""
    command = [sys.executable, "-m", "reshore.api.figures", str(limits.memory_mb),
               str(limits.errors_shown)]
    try:
        done = subprocess.run(command, input=document.encode("utf-8"), capture_output=True,
                              timeout=limits.time_limit_s, check=False)
    except subprocess.TimeoutExpired as error:
        raise FiguresError(f"validating the stored instance took longer than"
                           f" {limits.time_limit_s:g} s") from error
    try:
        answer: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        answer = {}
    if "figures" in answer:
        return InstanceFigures.from_json(answer["figures"]), list(answer["warnings"])
    if "errors" in answer:
        raise FiguresError.contract_broken(answer)
    if done.returncode < 0 or b"MemoryError" in done.stderr:
        raise FiguresError(f"validating the stored instance needs more than the"
                           f" {limits.memory_mb:,} MiB this server allows")
    raise FiguresError("the stored instance could not be validated")


def recorded_figures(session: Session, version: DatasetVersion,
                     limits: ChildLimits) -> InstanceFigures:
    """The version's figures: as recorded, or (a version stored before they were recorded)
    computed once in a bounded child process and recorded with the version, its warnings
    completed with the validation's."""
    if version.figures is not None:
        return InstanceFigures.from_json(version.figures)
    from reshore.api import store  # here: the figures child process needs no database

    figures, warnings = figures_in_child(
        store.instance_document(session, version.instance_hash), limits)
    version.figures = figures.to_json()
    version.warnings = json.dumps(list(dict.fromkeys((*json.loads(version.warnings),
                                                      *warnings))))
    session.flush()
    return figures


def main(argv: list[str]) -> int:
    memory_mb, shown = int(argv[0]), int(argv[1])
    from reshore.api.uploads import errors_answer, limit_memory

    limit_memory(memory_mb)
    from reshore.optimizer.schema import InvalidNetwork, parse_network

    try:
        network = parse_network(json.loads(sys.stdin.buffer.read()))
        answer: dict[str, Any] = {"figures": figures_of(network).to_json(),
                                  "warnings": list(network.warnings)}
    except InvalidNetwork as invalid:
        answer = errors_answer(invalid, shown)
    sys.stdout.write(json.dumps(answer, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
