"""Scenario relaxations spread over other processes: what a solve offers them, and what
they give back.

A solve whose LP relaxation goes one scenario at a time (`by_scenario.relaxation_by_scenario`)
may be given `ScenarioHelpers` (`SolveOptions.scenario_helpers`; the service gives its Celery
workers, `reshore.api.spread`). It offers them every scenario but the first, then works
through the scenarios itself, each one taken by whoever comes first (`ScenarioHelpers.take`):
a helper that is busy elsewhere costs nothing, since the solve then solves that scenario
itself. Then it solves each scenario a helper took itself too, stopping as soon as the
helper's answer is in (`Answer.DONE`), and keeps whichever came first: a helper that failed,
went silent (`Answer.LOST`) or is slow costs no more than the solve's own time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from reshore.optimizer.schema import Network


@dataclass(frozen=True)
class ScenarioBound:
    """One scenario's LP relaxation alone: its optimum in currency and the values of its
    first-stage columns by key (`first_stage`: family -> key columns and `value`)."""

    bound: float
    first_stage: dict[str, pd.DataFrame]
    solved_by: str = ""
    """Who solved it (a helper's name; empty for the solve itself)."""

    def to_json(self) -> dict[str, Any]:
        return {"bound": self.bound, "solved_by": self.solved_by,
                "first_stage": {family: frame.to_dict(orient="split", index=False)
                                for family, frame in self.first_stage.items()}}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ScenarioBound:
        return cls(bound=float(document["bound"]), solved_by=str(document["solved_by"]),
                   first_stage={family: pd.DataFrame(part["data"], columns=part["columns"])
                                for family, part in document["first_stage"].items()})


class Answer(enum.Enum):
    """Where a scenario offered to the helpers stands, seen from the solve."""

    PENDING = "pending"
    """Taken by a helper that is still at work (or not taken yet)."""
    DONE = "done"
    """Solved by a helper: its `ScenarioBound` is ready."""
    LOST = "lost"
    """The helper failed, stopped or went silent: the solve solves it itself."""


class ScenarioHelpers(Protocol):
    """Other processes that solve scenarios' relaxations while the solve works: one object
    per relaxation by scenario, closed by whoever made it once the solve is done."""

    def offer(self, scenario: str, alone: Network, time_limit_s: float | None) -> None:
        """Offer scenario `scenario`'s instance alone (`variants.scenario_alone`), to be
        solved within `time_limit_s` seconds from now."""

    def take(self, scenario: str) -> bool:
        """Take an offered scenario for the solve itself: False when a helper has it."""

    def answer(self, scenario: str) -> tuple[Answer, ScenarioBound | None]:
        """Where a scenario a helper took stands, with its bound once `Answer.DONE`."""

    def close(self) -> None:
        """The solve needs no more: helpers at work stop, what was offered is withdrawn."""
