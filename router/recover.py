"""The sweep: re-enqueue messages and replies whose jobs were lost (stored, never finished)."""
from __future__ import annotations

import logging
from datetime import timedelta

from rq import Queue

from ingest import jobs
from ingest.intake import JOB_SIZE
from ingest.jobs import INTAKE_QUEUE
from router import answers, closure, context, crop, expiry, replies, unit
from store import db, ops

log = logging.getLogger(__name__)
UNROUTED_RETRY = timedelta(hours=1)  # a ticket no officer covered is offered to the roster again this often


def sweep(older_than_seconds: float = 60.0) -> dict[str, int]:
    """Enqueue again what has waited longer than it should; jobs are idempotent, so repeats are harmless."""
    age = timedelta(seconds=older_than_seconds)
    cfg = context.config()
    with db.session() as session:
        # Messages tried max_attempts times are given up on (failed, with their last error), not handed out again.
        dead = ops.dead_letter_inbound(session, cfg.max_attempts)
        fresh = ops.stale_inbound(session, age, tried=False)
        tried = ops.stale_inbound(session, age, tried=True)
        outbox = ops.stale_outbox(session, age)
        tickets = ops.undispatched_tickets(session, age, UNROUTED_RETRY)
    if dead:
        log.error("sweep: gave up on %d message(s) after %d tries each (see `crophub failed list`)", len(dead),
                  cfg.max_attempts)
    inbound = fresh + tried
    if inbound:
        log.warning("sweep: re-enqueueing %d stored message(s) never processed", len(inbound))
        queue = Queue(INTAKE_QUEUE, connection=context.redis())
        # Messages whose job was lost go together, as the intake sent them (no job too big for its timeout); a
        # message tried before and still here goes alone, so whatever stops it cannot take others along.
        batches = [fresh[start:start + JOB_SIZE] for start in range(0, len(fresh), JOB_SIZE)] + [[i] for i in tried]
        for ids in batches:
            jobs.enqueue(queue, jobs.PROCESS, ids, kwargs={"recovered": True}, timeout=cfg.job_timeout)
    if outbox:
        log.warning("sweep: re-enqueueing %d pending reply(ies)", len(outbox))
        replies.enqueue_send(outbox)
    if tickets:
        log.warning("sweep: sending %d open ticket(s) to officers again", len(tickets))
        crop.enqueue_dispatch(tickets)
    _photo_checks(age)  # verified closure (issue 20, part 6)
    return {"inbound": len(inbound), "outbox": len(outbox), "tickets": len(tickets), "expired": _expire(),
            "expired_tickets": expiry.sweep()}  # tickets.expire_after (router/expiry.py)


def _photo_checks(age: timedelta) -> None:
    """Verified closure: "done" photo checks whose job was lost are enqueued again (a failure waits for the next sweep)."""
    try:
        closure.requeue(age)
    except Exception:
        log.exception("sweep: re-enqueueing photo checks failed; the next sweep tries again")


def _expire() -> int:
    """Questions nobody answered in time end, and the tickets that waited for them go on (after the steps
    above, so a failure here cannot hold them up); → tickets moved on."""
    try:
        with db.session() as session:
            expired = answers.expire(session)
            done = unit.commit(session, expired)
    except Exception:
        log.exception("sweep: expiring questions failed; the next sweep tries again")
        return 0
    unit.after_commit(done)  # the tickets moved on reached officers: their SLA clock runs
    return len(expired.moved)
