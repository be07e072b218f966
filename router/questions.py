"""Questions the hub asks a citizen (where?, which category?, is it fixed?) as stored data: each has its
chat, ticket, kind, expiry and how many times it was asked. The chat's next message is read as the answer
first (router/answers.py); a question that ends has its buttons removed."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bots import registry
from ingest.message import Address
from router import context
from router.outcome import Reply
from store import ops
from store.models import Outbox, Question, utcnow

log = logging.getLogger(__name__)

PLACE, CATEGORY, FIXED = "place", "category", "fixed"
# "There is a similar report near you: support it?" (router/nearby.py): unanswered, the report is filed on its own.
NEARBY = "nearby"
# The questions the chat's next message is read as the answer to ("is it fixed?" is answered by its own words).
IN_CHAT = (PLACE, CATEGORY, NEARBY)
# A question is asked again at most once (with an example); then the ticket goes on without its answer.
MAX_ASKED = 2
# "Is it fixed?" waits longer than the other questions: the citizen has to go and look.
FIXED_DAYS = 7
# The ticket statuses in which each kind of question still makes sense; any other status outdates it.
STILL_ASKED = {PLACE: frozenset({"needs_info"}), CATEGORY: frozenset({"needs_info", "open", "assigned"}),
               FIXED: frozenset({"resolved"}), NEARBY: frozenset({"needs_info"})}


def _expiry(kind: str) -> timedelta:
    if kind == FIXED:
        return timedelta(days=FIXED_DAYS)
    if kind == NEARBY:
        return timedelta(minutes=context.config().nearby_wait_minutes)
    return timedelta(minutes=context.config().dialogue_timeout_minutes)


def ask(session: Session, ticket_id: int, citizen_id: int, chat_key: str, kind: str, asked_in: str) -> Question:
    """Record that `kind` was asked about the ticket in this chat (by the outbox row `asked_in`); asking an
    open question again counts, and moves its expiry."""
    now = utcnow()
    found = session.scalars(select(Question).where(
        Question.ticket_id == ticket_id, Question.chat_key == chat_key, Question.kind == kind,
        Question.status == "open")).first()
    if found is None:
        found = Question(chat_key=chat_key, citizen_id=citizen_id, ticket_id=ticket_id, kind=kind, asked=1,
                         status="open", asked_in=[asked_in], created_at=now, expires_at=now + _expiry(kind))
        session.add(found)
    else:
        found.asked += 1
        found.asked_in = [*found.asked_in, asked_in]
        found.expires_at = now + _expiry(kind)
    session.flush()
    return found


def ask_new(session: Session, asked: list[tuple[int, int, str, str, str]]) -> None:
    """Record questions asked about tickets filed just now (ticket, citizen, chat, kind, outbox row), in one
    statement: a batch of reports files many at once."""
    if not asked:
        return
    now = utcnow()
    session.connection().execute(insert(ops.table_of(Question)), [
        {"ticket_id": t, "citizen_id": c, "chat_key": chat, "kind": kind, "asked": 1, "status": "open",
         "asked_in": [key], "created_at": now, "expires_at": now + _expiry(kind), "closed_at": None}
        for t, c, chat, kind, key in asked])


def pending(session: Session, chat_key: str, citizen_id: int) -> Question | None:
    """The newest open, unexpired "where?", "which category?" or "support the report nearby?" this citizen was
    asked in this chat ("is it fixed?" is answered by its own words: router/crop.py)."""
    return session.scalars(select(Question).where(
        Question.chat_key == chat_key, Question.citizen_id == citizen_id, Question.status == "open",
        Question.kind.in_(IN_CHAT), Question.expires_at > utcnow()).order_by(Question.id.desc())
        .limit(1)).first()


def chats_waiting(session: Session, chat_keys: list[str]) -> set[str]:
    """Those of the chats where a "where?", "which category?" or "support it?" waits for its answer."""
    if not chat_keys:
        return set()
    return set(session.scalars(select(Question.chat_key).where(
        Question.chat_key.in_(sorted(set(chat_keys))), Question.status == "open",
        Question.kind.in_(IN_CHAT), Question.expires_at > utcnow())))


def is_open(session: Session, ticket_id: int, kind: str) -> bool:
    """Whether a question of `kind` about the ticket still waits for its answer."""
    return session.scalars(select(Question.id).where(Question.ticket_id == ticket_id, Question.kind == kind,
                                                     Question.status == "open").limit(1)).first() is not None


def close(session: Session, question: Question, status: str) -> list[Reply]:
    """End a question (answered, dropped, outdated, expired); → replies removing its buttons."""
    question.status, question.closed_at = status, utcnow()
    return clear_buttons(session, question.asked_in, question.ticket_id)


def end(session: Session, ticket_id: int, kind: str, status: str) -> list[Reply]:
    """End the ticket's open questions of `kind` (answered, outdated...); → replies removing their buttons."""
    cleared: list[Reply] = []
    for question in session.scalars(select(Question).where(Question.ticket_id == ticket_id, Question.kind == kind,
                                                           Question.status == "open")):
        cleared += close(session, question, status)
    return cleared


def outdate(session: Session, ticket_id: int, status: str, keep: Question | None = None) -> list[Reply]:
    """End the ticket's open questions that its new `status` makes pointless (a fixed-question once closed, a
    place question once placed...); → replies removing their buttons."""
    cleared: list[Reply] = []
    for question in session.scalars(select(Question).where(Question.ticket_id == ticket_id,
                                                           Question.status == "open")):
        if question is not keep and status not in STILL_ASKED.get(question.kind, frozenset()):
            cleared += close(session, question, "outdated")
    return cleared


def clear_buttons(session: Session, dedupe_keys: list[str], ticket_id: int | None) -> list[Reply]:
    """Replies that remove the buttons of these stored replies, on channels that can edit a sent message.

    Each names the reply it clears; router/replies.py finds that reply's message id when it sends,
    since the reply it names is sent before it (replies to one chat go in order)."""
    if not dedupe_keys:
        return []
    cleared = []
    for asked in session.scalars(select(Outbox).where(Outbox.dedupe_key.in_(dedupe_keys))):
        extras = asked.extras or {}
        if not extras.get("buttons") or not registry.offers(asked.channel, "edits"):
            continue
        address = Address(**{**asked.address, "reply_to": None, "callback_id": None})
        cleared.append(Reply(address, "", f"clear:{asked.dedupe_key}"[:255], ticket_id,
                             clear_buttons_of=asked.dedupe_key))
    return cleared


def due(session: Session, limit: int = 500) -> list[tuple[int, int]]:
    """(question id, ticket id) of open questions past their expiry, by ticket (read without a lock: the
    caller locks each ticket, then its question, in the order the pipeline does)."""
    return [(q, t) for q, t in session.execute(
        select(Question.id, Question.ticket_id).where(Question.status == "open", Question.expires_at <= utcnow())
        .order_by(Question.ticket_id, Question.id).limit(limit))]


def expire(session: Session, question_id: int) -> Question | None:
    """Mark one due question expired (locked, and looked at again: an answer may have come meanwhile)."""
    question = session.get(Question, question_id, with_for_update=True, populate_existing=True)
    if question is None or question.status != "open" or question.expires_at > utcnow():
        return None
    question.status, question.closed_at = "expired", utcnow()
    ops.add_events(session, [{"ticket_id": question.ticket_id, "kind": "question_expired", "actor": "router",
                              "data": {"question": question.kind, "asked": question.asked}}])
    return question


def asked_by(session: Session, question: Question) -> Outbox | None:
    """The reply that last asked `question` (where a follow-up goes: the same chat), or None."""
    if not question.asked_in:
        return None
    return session.scalars(select(Outbox).where(Outbox.dedupe_key == question.asked_in[-1])).first()
