"""The Celery side: the app, its one task, and `reshore worker`.

Settings that make a job survive its worker: `task_acks_late` (the message is acknowledged
only after the job ran), `task_reject_on_worker_lost` (a solver process killed mid-solve puts
the message back), `worker_prefetch_multiplier=1` (a worker holds no jobs it has not started)
and a visibility timeout above the longest job (Redis redelivers an unacknowledged message
after it, e.g. when a whole worker machine died). Whatever the broker does, the store decides:
only one run can claim a job, and the API server's dispatcher queues again any job whose worker
stopped sending heartbeats.

Each solver process caps its address space at `job_memory_mb` (RLIMIT_AS), and a job that
overstays its time limit plus `job_grace_s` (or a cancel by `cancel_grace_s`) is given its final
status by the job's own watchdog, which then ends the process; Celery replaces it. SIGTERM is
Celery's warm shutdown: no new jobs are taken and running ones finish, within their time limit
plus grace.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from reshore.api import db
from reshore.api.config import Settings, get_settings
from reshore.api.jobs import run_job

TASK_NAME = "reshore.run_job"


def make_celery(settings: Settings) -> Celery:
    app = Celery("reshore", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": int(settings.max_time_limit_s + 600)},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )

    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)
    def run(job_id: str) -> str:
        from reshore.api.executors import job_config

        return run_job(job_id, job_config(get_settings()))

    return app


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked solver process caps its memory (`job_memory_mb`), opens its own database
    connections and loads the solver."""
    from reshore.api.executors import limit_memory, warm_up

    limit_memory(get_settings().job_memory_mb)
    db.dispose_all(close=False)
    warm_up()


def start_worker(settings: Settings, concurrency: int, name: str | None,
                 loglevel: str) -> None:
    """Run a Celery worker in this process until it is stopped."""
    logging.basicConfig(level=loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = make_celery(settings)
    argv = ["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel.upper()}",
            "--pool=prefork", f"--queues={settings.queue}", "--without-gossip",
            "--without-mingle"]
    if name:
        argv.append(f"--hostname={name}")
    app.worker_main(argv)


app = make_celery(get_settings())
"""For `celery -A reshore.api.worker worker`."""
