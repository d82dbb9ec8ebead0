"""The job store's state changes, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from reshore.api import db, security, store
from reshore.api.models import Job, utcnow
from tests.api.support import postgres_database, postgres_reachable, require


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        address = f"sqlite:///{tmp_path / 'store.db'}"
        db.migrate(address)
        yield address
        db.dispose_all()
        return
    require("PostgreSQL", postgres_reachable)
    with postgres_database(f"reshore_test_store_{os.getpid()}") as address:
        db.migrate(address)
        yield address


def _job(url: str, tenant: str = "acme", key: str | None = None,
         body: str = "b1") -> tuple[str, bool]:
    with db.session_scope(url) as session:
        store.store_instance(session, "h" * 64, {"settings": {}})
        job, created = store.create_job(session, store.NewJob(
            tenant=tenant, instance_hash="h" * 64, options={}, time_limit_s=10,
            estimated_variables=1, idempotency_key=key, request_hash=body))
        return job.id, created


def test_migrations_reach_the_newest_schema_and_run_twice(url: str) -> None:
    assert db.schema_is_current(url)
    db.migrate(url)
    assert db.schema_is_current(url)


def test_idempotency_keys_are_per_tenant_and_per_body(url: str) -> None:
    first, created = _job(url, key="k")
    again, created_again = _job(url, key="k")
    assert created and not created_again and first == again
    with pytest.raises(store.IdempotencyConflictError):
        _job(url, key="k", body="b2")
    other, created_other = _job(url, tenant="other", key="k")
    assert created_other and other != first


def test_only_one_claim_wins_and_runs_are_fenced(url: str) -> None:
    job_id, _ = _job(url)
    with db.session_scope(url) as session:
        assert store.claim(session, job_id, "host:1") == 1
    with db.session_scope(url) as session:
        assert store.claim(session, job_id, "host:2") is None
        assert store.heartbeat(session, job_id, 1, {"bound": 5.0}, ["line"]) == (True, False)
        assert store.heartbeat(session, job_id, 7, {}, []) == (False, False)
    with db.session_scope(url) as session:
        assert not store.finish(session, job_id, 2, store.Outcome(status="succeeded"), [])
        assert store.finish(session, job_id, 1, store.Outcome(status="succeeded", plan="{}",
                                                              tables={"sites": "site\n"}), [])
        assert store.result_table(session, job_id, "sites") == "site\n"
        assert store.log_lines(session, job_id, 0, 10) == ["line"]


def test_a_lost_run_is_queued_again_then_failed(url: str) -> None:
    job_id, _ = _job(url)
    stale = utcnow() - timedelta(minutes=5)
    for attempt in (1, 2):
        with db.session_scope(url) as session:
            assert store.claim(session, job_id, "gone:1") == attempt
            session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=stale))
        with db.session_scope(url) as session:
            assert store.recover_lost(session, timedelta(seconds=30), max_attempts=2)
    with db.session_scope(url) as session:
        job = session.scalar(select(Job).where(Job.id == job_id))
        assert job is not None and job.status == "failed" and "lost 2 time(s)" in (
            job.error or "")


def test_dispatch_respects_capacity_and_the_tenant_limit(url: str) -> None:
    ids = [_job(url, tenant="a")[0] for _ in range(3)] + [_job(url, tenant="b")[0]]
    with db.session_scope(url) as session:
        chosen = store.dispatchable(session, capacity=10, tenant_limit=2)
    assert chosen == [ids[0], ids[1], ids[3]]
    with db.session_scope(url) as session:
        assert store.dispatchable(session, capacity=10, tenant_limit=2) == []
        assert store.undispatch(session, [ids[1]]) == 1
        assert store.dispatchable(session, capacity=1, tenant_limit=2) == [ids[1]]


def test_cancel_a_queued_job_and_list_pages(url: str) -> None:
    ids = [_job(url)[0] for _ in range(5)]
    with db.session_scope(url) as session:
        job = store.get_job(session, "acme", ids[0])
        assert job is not None and store.cancel_job(session, job).status == "cancelled"
        assert store.claim(session, ids[0], "host:1") is None
        assert store.get_job(session, "other", ids[1]) is None
        page, cursor = store.list_jobs(session, "acme", None, 2, None)
        assert [j.id for j in page] == [ids[4], ids[3]] and cursor is not None
        page, cursor = store.list_jobs(session, "acme", ["queued"], 10, cursor)
        assert [j.id for j in page] == [ids[2], ids[1]] and cursor is None


def test_keys_and_dataset_versions(url: str) -> None:
    with db.session_scope(url) as session:
        key = security.create_key(session, "acme", "ci")
    with db.session_scope(url) as session:
        assert security.tenant_of(session, key.token) == "acme"
        assert security.tenant_of(session, key.token + "x") is None
        assert security.revoke_key(session, key.key_id)
        assert security.tenant_of(session, key.token) is None
        store.store_instance(session, "h" * 64, {"settings": {}})
        first = store.add_version(session, "acme", "net", "h" * 64, {"sites": 2}, "")
        second = store.add_version(session, "acme", "net", "h" * 64, {"sites": 2}, "again")
        assert first.id == second.id
        assert [v.version for v in store.versions_of(session, first.id)] == [1, 2]
        assert store.find_dataset(session, "other", first.id) is None
