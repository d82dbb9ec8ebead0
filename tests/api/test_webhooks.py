"""Webhooks to a receiver on 127.0.0.1: delivered when a job ends, retried after a receiver
error, every attempt recorded, the signature verifiable and a tampered body detectable."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import highspy
import pytest

from reshore.api import db, store
from reshore.api.jobs import JobConfig, run_job
from reshore.api.webhooks import SIGNATURE_HEADER, deliveries, tenant_secret, verify
from reshore.optimizer.schema import parse_network
from reshore.optimizer.solve import input_hash
from tests.instances import two_site_transport


@pytest.fixture(autouse=True)
def _one_thread_scheduler() -> Iterator[None]:
    """The jobs here run in this process with `job_threads=1`. HiGHS keeps one thread
    scheduler per process, sized by the first solve, and refuses a solve asking for another
    size: a fresh one is made for each test."""
    highspy.Highs.resetThreadScheduler(True)
    yield


class Receiver:
    """An HTTP server on 127.0.0.1 that answers each POST with the next of `answers` (then
    200) and keeps what it received."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append((dict(self.headers.items()), body))
                code = outer.answers.pop(0) if outer.answers else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver([500])
    yield running
    running.close()


def queued_job(url: str, tenant: str, options: dict[str, Any]) -> str:
    network = parse_network(two_site_transport())
    digest = input_hash(network)
    with db.session_scope(url) as session:
        store.store_instance(session, digest, network.to_tables())
        job, _ = store.create_job(session, store.NewJob(
            tenant=tenant, instance_hash=digest, options=options, time_limit_s=30,
            estimated_variables=10))
        return job.id


def test_webhook_is_retried_after_an_error_and_its_signature_verifies(
        tmp_path: Path, receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    db.migrate(url)
    job_id = queued_job(url, "acme", {"webhook_url": receiver.url})
    assert run_job(job_id, JobConfig(url, job_threads=1)) == "succeeded"

    assert len(receiver.received) == 2  # the 500, then the 200
    headers, body = receiver.received[-1]
    event = json.loads(body)
    assert event["event"] == "job.finished"
    assert event["job"]["id"] == job_id and event["job"]["status"] == "succeeded"
    assert event["job"]["objective"] == pytest.approx(290)  # tests/instances.py, by hand
    with db.session_scope(url) as session:
        secret = tenant_secret(session, "acme")
        attempts = [(d.attempt, d.status_code, d.delivered) for d in deliveries(session, job_id)]
    assert attempts == [(1, 500, False), (2, 200, True)]
    signature = headers[SIGNATURE_HEADER]
    assert verify(secret, body, signature)
    tampered = body.replace(b'"succeeded"', b'"failed"')
    assert tampered != body and not verify(secret, tampered, signature)
    assert not verify("another tenant's secret", body, signature)


def test_a_job_without_webhook_sends_nothing(tmp_path: Path, receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    db.migrate(url)
    job_id = queued_job(url, "acme", {})
    assert run_job(job_id, JobConfig(url, job_threads=1)) == "succeeded"
    assert receiver.received == []
    with db.session_scope(url) as session:
        assert deliveries(session, job_id) == []
