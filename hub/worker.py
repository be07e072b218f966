"""`crophub worker`: RQ workers that run pipeline and send jobs in-process (no fork per job)."""
from __future__ import annotations

import logging
import os
import threading

from redis import Redis
from rq import Queue, SimpleWorker

from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE

log = logging.getLogger(__name__)


def work(conn: Redis, burst: bool = False) -> bool:
    """Run one worker until stopped (or, with burst, until the queues are empty)."""
    # RQ's default Worker forks for every job (~60 jobs/s here); jobs are idempotent plain
    # functions over batches, so running them in-process is safe and far faster.
    # Each job carries its own timeout (workers.job_timeout, set when it is enqueued).
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)]
    worker = SimpleWorker(queues, connection=conn, name=f"crophub-{os.uname().nodename}-{os.getpid()}")
    # Outbox first: a reply waiting to go out is further along than a message waiting to be read;
    # then new messages (citizens wait for their acknowledgement), then the crop queue (the sweep's
    # dispatch jobs, SLA checks).
    return worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")


def sweeper(conn: Redis, interval: float, age: float, stop: threading.Event) -> threading.Thread:
    """A thread that runs the recovery sweep every `interval` seconds, once per cluster."""
    from router import recover  # the sweep is router work; only this wiring calls it

    def loop() -> None:
        while not stop.wait(interval):
            try:
                # One sweeper at a time across machines sharing this Redis.
                if conn.set("crophub:sweep", os.getpid(), nx=True, ex=max(1, int(interval))):
                    recover.sweep(age)
            except Exception as exc:
                log.warning("sweep failed: %s", exc)

    thread = threading.Thread(target=loop, name="crophub-sweep", daemon=True)
    thread.start()
    return thread
