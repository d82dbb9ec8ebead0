"""A job's scenario relaxations spread over the Celery workers (`spread_scenarios`): the job's
solve offers them (`CeleryScenarioHelpers`, the `optimizer.solve.spread.ScenarioHelpers` of the
service) and any worker with a free solver process solves one (`solve_offered`, the task
`reshore.relax_scenario`).

Everything an offer needs lives in Redis (the broker, which must then be Redis:
`spreads_over`) under `reshore:spread:<solve>:`, each key expiring an hour after the solve's
time limit: the scenario's instance (`network`), who took it (`taken`, set once: the solve
itself or one helper), the helper's heartbeat (`alive`, `ALIVE_S` long, renewed every
`BEAT_S`), its answer (`answer`: the bound and first-stage values, or `failed`) and the
solve's end (`stop`, which holds no data). When the solve ends it sets `stop` and deletes
the other keys. A helper that died stops beating; the solve then solves that scenario
itself. A task that reaches a worker after the solve took the scenario, or after it ended,
does nothing. A Redis error makes the solve do every scenario left itself; it never fails
the job.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery

from reshore.optimizer import heuristics
from reshore.optimizer.schema import Network, parse_network
from reshore.optimizer.solve.by_scenario import relax_alone
from reshore.optimizer.solve.highs import scheduler_for
from reshore.optimizer.solve.spread import Answer, ScenarioBound

log = logging.getLogger("reshore.spread")

RELAX_TASK = "reshore.relax_scenario"
ALIVE_S = 10.0
"""A helper whose heartbeat is older than this has died: the solve takes its scenario back."""
BEAT_S = 2.0
"""Seconds between two heartbeats of a helper."""
KEPT_S = 3600
"""Seconds an offer's keys outlive the solve's time limit."""
OWN = "solve"
"""`taken` by the solve itself."""


def _kept(time_limit_s: float | None) -> int:
    """Seconds an offer's keys live: `KEPT_S` past the solve's time limit."""
    return int((time_limit_s or 0) + KEPT_S)


def _prefix(solve_id: str) -> str:
    return f"reshore:spread:{solve_id}:"


REDIS_SCHEMES = ("redis", "rediss", "unix")
"""Broker URLs the offers can live in (with another broker, such as RabbitMQ, jobs are not
spread)."""
TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('SET', KEYS[2], 1, 'EX', ARGV[3])
  return 1
end
return 0
"""
"""Take an offer (`taken`, set once) and start its heartbeat (`alive`) in one step."""
TIMEOUT_S = 5.0
"""Seconds a Redis call may take before it fails (the solve then does its scenarios itself)."""


def spreads_over(broker_url: str) -> bool:
    """Whether scenarios can be offered through this broker (a Redis one)."""
    return broker_url.partition("://")[0] in REDIS_SCHEMES


def _client(broker_url: str) -> redis.Redis:
    return redis.Redis.from_url(broker_url, socket_timeout=TIMEOUT_S,
                                socket_connect_timeout=TIMEOUT_S)


class CeleryScenarioHelpers:
    """The Celery workers of the queue as `ScenarioHelpers` of one solve (one call of the
    relaxation by scenario: a second would find the first one's answers)."""

    @classmethod
    def on_queue(cls, broker_url: str, queue: str) -> CeleryScenarioHelpers:
        """Helpers reached by tasks on `queue` of the broker at `broker_url` (see
        `spreads_over`)."""
        app = Celery("reshore", broker=broker_url, set_as_current=False)
        app.conf.update(task_serializer="json", accept_content=["json"],
                        broker_connection_retry_on_startup=True)

        def send(name: str, args: list[Any]) -> None:
            app.send_task(name, args=args, queue=queue)

        return cls(broker_url, send, on_close=app.close)

    def __init__(self, broker_url: str, send: Callable[[str, list[Any]], None],
                 on_close: Callable[[], None] = lambda: None) -> None:
        """`send(task_name, args)` queues a task (the job's Celery app); `on_close` runs
        when the solve is done with the helpers."""
        self._send, self._on_close = send, on_close
        self._solve_id = uuid.uuid4().hex
        self._offered: list[str] = []
        self._broken = False
        self._kept = KEPT_S
        """Seconds the keys of this solve's offers live: `_kept` of its longest time limit."""
        try:
            self._redis: redis.Redis | None = _client(broker_url)
        except Exception as error:  # not a Redis URL after all
            self._redis = None
            self._give_up(error)

    def _key(self, scenario: str, part: str) -> str:
        return f"{_prefix(self._solve_id)}{scenario}:{part}"

    def offer(self, scenario: str, alone: Network, time_limit_s: float | None) -> None:
        if self._broken or self._redis is None:
            return
        kept = self._kept = max(self._kept, _kept(time_limit_s))
        try:
            self._offered.append(scenario)
            self._redis.set(self._key(scenario, "network"),
                            json.dumps({"tables": alone.to_tables(),
                                        "time_limit_s": time_limit_s}), ex=kept)
            self._send(RELAX_TASK, [self._solve_id, scenario])
        except Exception as error:  # no broker: the solve does every scenario itself
            self._give_up(error)

    def take(self, scenario: str) -> bool:
        if self._broken or self._redis is None:
            return True
        try:
            return bool(self._redis.set(self._key(scenario, "taken"), OWN, nx=True,
                                        ex=self._kept))
        except redis.RedisError as error:
            self._give_up(error)
            return True

    def answer(self, scenario: str) -> tuple[Answer, ScenarioBound | None]:
        if self._broken or self._redis is None:
            return Answer.LOST, None
        try:
            found, taken, alive = self._redis.mget(
                [self._key(scenario, part) for part in ("answer", "taken", "alive")])
            if found is not None:
                document = json.loads(found)
                if document.get("failed"):
                    log.warning("solve %s: the helper failed on %s: %s", self._solve_id,
                                scenario, document["failed"])
                    return Answer.LOST, None
                return Answer.DONE, ScenarioBound.from_json(document)
        except Exception as error:  # the broker, or an answer this version cannot read
            self._give_up(error)
            return Answer.LOST, None
        if taken is not None and alive is None:
            return Answer.LOST, None  # its helper stopped beating: died
        return Answer.PENDING, None  # at work, or not taken yet (every worker busy)

    def close(self) -> None:
        """The helpers stop (`stop`), and every key of the offers goes (best effort, also
        after a Redis error)."""
        try:
            if self._offered and self._redis is not None:
                self._redis.set(f"{_prefix(self._solve_id)}stop", 1, ex=self._kept)
                self._redis.delete(*(self._key(scenario, part) for scenario in self._offered
                                     for part in ("network", "taken", "alive", "answer")))
        except redis.RedisError as error:
            log.warning("solve %s: the offers could not be withdrawn (%s: %s); they expire"
                        " in %d s", self._solve_id, type(error).__name__, error, self._kept)
        finally:
            if self._redis is not None:
                self._redis.close()
            self._on_close()

    def _give_up(self, error: Exception) -> None:
        log.warning("solve %s: scenarios not spread over the workers (%s: %s)",
                    self._solve_id, type(error).__name__, error)
        self._broken = True


def solve_offered(broker_url: str, solve_id: str, scenario: str, helper: str,
                  threads: int = 1) -> str:
    """A helper's part: take the offered scenario unless the solve or another helper has it,
    solve its relaxation with a heartbeat beside, and leave the answer unless the solve has
    ended meanwhile. What happened, as a word for the worker's log."""
    client = _client(broker_url)
    prefix = f"{_prefix(solve_id)}{scenario}:"
    stop_key = f"{_prefix(solve_id)}stop"
    try:
        offered = client.get(f"{prefix}network")
        if offered is None or client.get(stop_key) is not None:
            return "withdrawn"
        document = json.loads(offered)
        kept = _kept(document["time_limit_s"])
        if not client.eval(TAKE, 2, f"{prefix}taken", f"{prefix}alive", helper, kept,
                           int(ALIVE_S)):
            return "taken"
        beating = threading.Event()
        beat = threading.Thread(target=_beat, args=(client, f"{prefix}alive", beating),
                                name="reshore-spread-beat", daemon=True)
        beat.start()
        try:
            answer = _relax(document, solve_id, client, helper, threads)
        finally:
            beating.set()
            beat.join()
        if client.get(stop_key) is not None:
            return "stopped"  # the solve ended: nobody reads the answer
        client.set(f"{prefix}answer", json.dumps(answer), ex=kept)
        return "failed" if answer.get("failed") else "solved"
    finally:
        client.close()


def _relax(document: dict[str, Any], solve_id: str, client: redis.Redis, helper: str,
           threads: int) -> dict[str, Any]:
    """The answer for an offer: the bound as JSON, or {"failed": reason}."""
    time_limit_s = document["time_limit_s"]
    ends = None if time_limit_s is None else time.monotonic() + float(time_limit_s)
    stop_key = f"{_prefix(solve_id)}stop"
    looked = [0.0, False]

    def stop() -> bool:
        """The solve ended or the time is up (Redis read at most once a second)."""
        now = time.monotonic()
        if now - looked[0] >= 1.0:
            looked[:] = [now, client.get(stop_key) is not None]
        return bool(looked[1]) or (ends is not None and now > ends)

    try:
        if stop():
            return {"failed": "the solve ended before the helper began"}
        network = parse_network(document["tables"])
        scheduler_for(threads)
        relaxed = relax_alone(network, lambda arrays: heuristics.solve_relaxation(
            arrays, time_limit=None if ends is None else max(ends - time.monotonic(), 1e-3),
            options={"threads": threads}, stop=stop))
    except Exception as error:
        log.exception("scenario relaxation of solve %s failed", solve_id)
        return {"failed": f"{type(error).__name__}: {error}"}
    if relaxed is None:
        return {"failed": "no optimum (stopped, or the time ran out)"}
    return {**relaxed.to_json(), "solved_by": helper}


def _beat(client: redis.Redis, key: str, done: threading.Event) -> None:
    while not done.wait(BEAT_S):
        client.set(key, 1, ex=int(ALIVE_S))
