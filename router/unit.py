"""The one unit of work every handler's Outcome goes through: its replies are stored in the caller's transaction
(`commit`), and once that has committed (`after_commit`) their send job is enqueued and the moved tickets get
their next SLA check. The pipeline, the dispatch and SLA jobs, the sweep and the dashboard all end this way."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from router import replies, timers
from router.outcome import Outcome


@dataclass(frozen=True)
class Committed:
    """What is left to do once the transaction has committed: the stored replies to send, the tickets to time."""

    outbox_ids: list[int]
    moved: frozenset[int]


def commit(session: Session, outcome: Outcome) -> Committed:
    """Store the outcome's replies in the caller's transaction (a reply stored before is skipped); → what
    after_commit does once that transaction has committed."""
    return Committed(replies.store(session, outcome.replies), outcome.moved)


def after_commit(done: Committed) -> None:
    """Enqueue the send of the stored replies, then schedule each moved ticket's next SLA check.

    Only after the commit: a job that ran sooner would not find the rows (a send that cannot be enqueued is
    left to the sweep, which finds the stored rows)."""
    replies.enqueue_send(done.outbox_ids)
    timers.schedule(sorted(done.moved))
