"""Every job is enqueued by one function with the same options: no result kept, failures kept a week, the
job's own retries unless the caller passes the configured ones, on its own queue only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from ingest import jobs


def test_a_job_gets_the_shared_options_and_its_own_retries(redis_conn: redis.Redis) -> None:
    queue = Queue(jobs.INTAKE_QUEUE, connection=redis_conn)
    job = jobs.enqueue(queue, jobs.PROCESS, [1, 2], kwargs={"recovered": True}, timeout=120)
    assert (job.func_name, job.args, job.kwargs) == (jobs.PROCESS.name, ([1, 2],), {"recovered": True})
    assert (job.timeout, job.result_ttl, job.failure_ttl) == (120, 0, jobs.FAILURE_TTL)
    assert (job.retries_left, job.retry_intervals) == (3, [1, 10, 60])


def test_configured_retries_a_schedule_and_a_fixed_id(redis_conn: redis.Redis) -> None:
    queue = Queue(jobs.OUTBOX_QUEUE, connection=redis_conn)
    at = datetime.now(timezone.utc) + timedelta(minutes=5)
    job = jobs.enqueue(queue, jobs.SEND, [7], timeout=60, retry=[5, 30], at=at, job_id="crophub-wait-x-1")
    assert job.id == "crophub-wait-x-1" and (job.retries_left, job.retry_intervals) == (2, [5, 30])
    assert job.id in ScheduledJobRegistry(queue=queue).get_job_ids()
    sla = jobs.enqueue(Queue(jobs.CROP_QUEUE, connection=redis_conn), jobs.SLA, 3, timeout=60)
    assert sla.retries_left is None and sla.failure_ttl == jobs.FAILURE_TTL


def test_a_job_runs_on_its_own_queue_only(redis_conn: redis.Redis) -> None:
    with pytest.raises(ValueError, match="crophub-crop"):
        jobs.enqueue(Queue(jobs.INTAKE_QUEUE, connection=redis_conn), jobs.DISPATCH, [1], timeout=60)
