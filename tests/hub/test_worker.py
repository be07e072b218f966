"""The worker's log: one line per retried failure, the traceback once, when a job fails for good."""
from __future__ import annotations

import logging

import pytest
import redis
from rq import Queue, Retry

from hub.worker import Worker
from ingest.intake import INTAKE_QUEUE


def explode(batch: list[int]) -> None:
    """A job that always fails."""
    raise ValueError(f"cannot handle {len(batch)} message(s)")


def test_a_retried_failure_is_one_line_and_only_the_last_has_the_traceback(
    redis_conn: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Queue(INTAKE_QUEUE, connection=redis_conn)
    queue.enqueue(f"{__name__}.explode", [1, 2], retry=Retry(max=2, interval=0))
    with caplog.at_level(logging.WARNING):
        Worker([queue], connection=redis_conn).work(burst=True, logging_level="WARNING")
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    tracebacks = [r for r in lines if "Traceback" in r.getMessage() or r.exc_info]
    retries = [r for r in lines if r not in tracebacks]
    assert len(tracebacks) == 1 and "ValueError: cannot handle 2 message(s)" in tracebacks[0].getMessage()
    assert len(retries) == 2, [r.getMessage() for r in lines]
    for record, left in zip(retries, (2, 1)):
        text = record.getMessage()
        assert "\n" not in text and f"{__name__}.explode" in text and "ValueError: cannot handle 2 message(s)" in text
        assert f"{left} retr" in text
    assert len(queue.failed_job_registry) == 1
