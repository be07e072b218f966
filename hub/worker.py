"""`crophub worker`: RQ workers that run pipeline and send jobs in-process (no fork per job)."""
from __future__ import annotations

import logging
import os
import threading

from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import DeserializationError
from rq.job import Job

from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE

log = logging.getLogger(__name__)


class Worker(SimpleWorker):
    """RQ's in-process worker, whose log has one line for a failure RQ will retry and the traceback only for
    the failure that ends the job (RQ logs a traceback for every attempt: hundreds in a short outage)."""

    def handle_exception(self, job: Job, *exc_info: object) -> None:
        """Log a failure that RQ will retry as one line; leave the last one to RQ (traceback, handlers)."""
        # A job stopped on purpose is not retried either (RQ's handle_job_failure makes the same test).
        if not job.should_retry or getattr(self, "_stopped_job_id", None) == job.id:
            return super().handle_exception(job, *exc_info)
        exc_type, exc, _tb = exc_info
        try:
            func = job.func_name
        except DeserializationError:
            func = "<undeserialisable>"
        name = exc_type.__name__ if isinstance(exc_type, type) else "error"
        # One line even for a multi-line message (SQLAlchemy appends the statement and a link on new lines).
        text = (str(exc).splitlines() or [""])[0][:500]
        left = job.retries_left or 0
        log.warning("job %s (%s) failed: %s: %s; retry in %d s, %d retr%s left", job.id, func, name, text,
                    job.get_retry_interval(), left, "y" if left == 1 else "ies")
        for handler in self._exc_handlers:
            # RQ's contract for pushed handlers: they see every failure; a False return stops the chain.
            if handler(job, *exc_info) is False:
                break


def work(conn: Redis, burst: bool = False) -> bool:
    """Run one worker until stopped (or, with burst, until the queues are empty)."""
    # RQ's default Worker forks for every job (~60 jobs/s here); jobs are idempotent plain
    # functions over batches, so running them in-process is safe and far faster.
    # Each job carries its own timeout (workers.job_timeout, set when it is enqueued).
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)]
    worker = Worker(queues, connection=conn, name=f"crophub-{os.uname().nodename}-{os.getpid()}")
    # Outbox first: a reply waiting to go out is further along than a message waiting to be read;
    # then new messages (citizens wait for their acknowledgement), then the crop queue (the sweep's
    # dispatch jobs, SLA checks).
    return worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")


def close_senders() -> None:
    """Close the senders this worker opened (their connections), so it stops without leaving any unclosed."""
    from bots import aio, registry

    if aio.started():
        try:
            aio.run(registry.close(), timeout=10)
        except Exception as exc:  # stopping anyway: the connections close with the process
            log.info("worker: senders not closed: %s", exc)


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
