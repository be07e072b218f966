"""Every background job by name: its dotted function, its queue and its retries, and one `enqueue()` that
gives every job the same options. Jobs are enqueued by dotted name, so producers never import their
consumers; this module lives in `ingest` because the intake is the first producer and ingest may not
import the router."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from rq import Queue, Retry
from rq.job import Job as RQJob

INTAKE_QUEUE = "crophub-intake"
OUTBOX_QUEUE = "crophub-outbox"
CROP_QUEUE = "crophub-crop"  # tickets the sweep offers to officers again, SLA checks
FAILURE_TTL = 7 * 86400  # s: a failed job is kept a week, for `crophub failed` and `rq info`


@dataclass(frozen=True)
class Job:
    """A job the workers run: the function's dotted name, its queue, and its retry intervals (s) when they
    are fixed here (None: the caller passes the configured ones, outbox.retry_intervals)."""

    name: str
    queue: str
    retry: tuple[int, ...] | None = None


PROCESS = Job("router.pipeline.process_inbound", INTAKE_QUEUE, retry=(1, 10, 60))
SEND = Job("router.replies.send_outbox", OUTBOX_QUEUE)
DISPATCH = Job("router.crop.dispatch_tickets", CROP_QUEUE)
SLA = Job("router.sla.check_ticket", CROP_QUEUE)  # scheduled at the step's due time; never retried
VERIFY_PHOTO = Job("router.closure.verify_photo", CROP_QUEUE)  # an officer's "done" photo checked (issue 20)


def enqueue(queue: Queue, job: Job, *args: Any, timeout: int, retry: Sequence[int] | None = None,
            at: datetime | None = None, job_id: str | None = None, kwargs: dict[str, Any] | None = None) -> RQJob:
    """Put `job(*args, **kwargs)` on `queue` (now, or at `at`), with the options every job shares: no result
    kept, failures kept FAILURE_TTL, retried at `retry` (or the job's own) intervals."""
    if queue.name != job.queue:
        raise ValueError(f"{job.name} runs on {job.queue}, not {queue.name}")
    intervals = list(retry if retry is not None else job.retry or ())
    options: dict[str, Any] = {"args": args, "kwargs": kwargs or {}, "job_timeout": timeout, "result_ttl": 0,
                               "failure_ttl": FAILURE_TTL, "job_id": job_id,
                               "retry": Retry(max=len(intervals), interval=intervals) if intervals else None}
    return queue.enqueue(job.name, **options) if at is None else queue.enqueue_at(at, job.name, **options)
