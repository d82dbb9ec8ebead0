"""The Redis side of scenarios spread over the workers (`reshore.api.spread`), against the
real broker: where an offered scenario stands, and a helper's whole part (`solve_offered`)
in this process. The Celery path end to end is in `test_celery`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from reshore.api.config import Settings
from reshore.api.spread import CeleryScenarioHelpers, solve_offered, spreads_over
from reshore.api.worker import worker_job_config
from reshore.data.synthetic import generate
from reshore.optimizer.solve.spread import Answer
from reshore.optimizer.variants import scenario_alone
from tests.api.support import REDIS_URL, redis_reachable, require


@pytest.fixture
def sent() -> list[tuple[str, list[str]]]:
    return []


@pytest.fixture
def helpers(sent: list[tuple[str, list[str]]]) -> Iterator[CeleryScenarioHelpers]:
    """Helpers whose tasks are kept in `sent` instead of queued: the test plays the worker."""
    require("Redis", redis_reachable)
    found = CeleryScenarioHelpers(REDIS_URL, lambda name, args: sent.append((name, args)))
    yield found
    found.close()


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """A client of the broker, to play a helper's part in its keys."""
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


OFFERED = "escalation"
"""The scenario each test offers: tiny seed 1's second."""


def _offer(helpers: CeleryScenarioHelpers) -> None:
    network = generate("tiny", 1)
    assert network.scenarios[1].scenario == OFFERED
    helpers.offer(OFFERED, scenario_alone(network, OFFERED), 60.0)


def test_an_offer_solved_by_a_helper_comes_back_with_its_bound(
        helpers: CeleryScenarioHelpers, sent: list[tuple[str, list[str]]]) -> None:
    name = OFFERED
    _offer(helpers)
    (task, (solve_id, scenario)), = sent
    assert (task, scenario) == ("reshore.relax_scenario", name)
    assert helpers.answer(name) == (Answer.PENDING, None)  # not taken yet

    assert solve_offered(REDIS_URL, solve_id, name, "helper:1") == "solved"
    state, relaxed = helpers.answer(name)
    assert state is Answer.DONE and relaxed is not None
    assert relaxed.solved_by == "helper:1" and relaxed.bound > 0
    assert set(relaxed.first_stage) >= {"open", "tier_operating"}
    assert not helpers.take(name)  # the helper has it
    assert solve_offered(REDIS_URL, solve_id, name, "helper:2") == "taken"


def test_a_scenario_the_solve_took_first_is_left_alone(
        helpers: CeleryScenarioHelpers, sent: list[tuple[str, list[str]]]) -> None:
    name = OFFERED
    _offer(helpers)
    assert helpers.take(name)
    assert solve_offered(REDIS_URL, sent[0][1][0], name, "helper:1") == "taken"


def test_after_the_solve_ends_an_offer_is_withdrawn(
        helpers: CeleryScenarioHelpers, sent: list[tuple[str, list[str]]]) -> None:
    name = OFFERED
    _offer(helpers)
    helpers.close()
    assert solve_offered(REDIS_URL, sent[0][1][0], name, "helper:1") == "withdrawn"


def test_a_helper_that_stopped_beating_or_failed_has_lost_its_scenario(
        helpers: CeleryScenarioHelpers, sent: list[tuple[str, list[str]]],
        broker: redis.Redis) -> None:
    """Taken with a heartbeat: pending; the heartbeat gone (the helper died): lost; a failure
    recorded: lost."""
    name = OFFERED
    _offer(helpers)
    prefix = f"reshore:spread:{sent[0][1][0]}:{name}:"
    broker.set(prefix + "alive", 1, ex=30)
    broker.set(prefix + "taken", "helper:1")
    assert helpers.answer(name) == (Answer.PENDING, None)
    broker.delete(prefix + "alive")
    assert helpers.answer(name) == (Answer.LOST, None)
    broker.set(prefix + "alive", 1, ex=30)
    broker.set(prefix + "answer", json.dumps({"failed": "MemoryError: "}))
    assert helpers.answer(name) == (Answer.LOST, None)


@pytest.mark.parametrize("broker_url", ["redis://127.0.0.1:1/0", "amqp://guest@127.0.0.1//"])
def test_without_a_redis_broker_the_solve_does_every_scenario_itself(broker_url: str) -> None:
    """Nothing listening, or a broker that is not Redis: no error, the solve takes every
    scenario."""
    helpers = CeleryScenarioHelpers(broker_url, lambda name, args: None)
    name = OFFERED
    _offer(helpers)
    assert helpers.take(name)
    assert helpers.answer(name) == (Answer.LOST, None)
    helpers.close()


def test_only_a_redis_broker_spreads_a_workers_jobs() -> None:
    assert spreads_over("redis://127.0.0.1:6379/0") and spreads_over("rediss://h:6380/0")
    assert not spreads_over("amqp://guest@127.0.0.1//")
    for broker_url, spread in (("redis://127.0.0.1:6379/0", True),
                               ("amqp://guest@127.0.0.1//", False)):
        config = worker_job_config(Settings(broker_url=broker_url, queue="q"))
        assert (config.spread_broker_url is not None) is spread, config
    config = worker_job_config(Settings(spread_scenarios=False))
    assert config.spread_broker_url is None


def test_an_answer_that_cannot_be_read_is_lost_and_closing_clears_the_offer(
        helpers: CeleryScenarioHelpers, sent: list[tuple[str, list[str]]],
        broker: redis.Redis) -> None:
    name = OFFERED
    _offer(helpers)
    prefix = f"reshore:spread:{sent[0][1][0]}:{name}:"
    broker.set(prefix + "taken", "helper:1")
    broker.set(prefix + "answer", "{not json")
    assert helpers.answer(name) == (Answer.LOST, None)
    helpers.close()
    assert broker.exists(*(prefix + part for part in
                           ("network", "taken", "alive", "answer"))) == 0
    assert broker.exists(f"reshore:spread:{sent[0][1][0]}:stop") == 1
