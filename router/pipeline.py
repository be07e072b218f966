"""The pipeline job: a stored message becomes a ticket (or a command answer) and a queued reply."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from ingest.message import Message
from nlp.lang import detect
from nlp.rules import taxonomy
from router import commands, context, replies
from router.templates import render
from store import db, ops
from store.models import Citizen, Ticket, utcnow

log = logging.getLogger(__name__)


def process_inbound(inbound_ids: list[int]) -> dict[str, int]:
    """Job: handle stored messages once each, then enqueue their replies."""
    outbox_ids: list[int] = []
    handled = failed = 0
    with db.session() as session:
        # Claiming and handling share one transaction: a crash leaves the rows to be claimed again.
        for inbound_id, stored in ops.claim_inbound(session, inbound_ids):
            try:
                with session.begin_nested():
                    outbox_ids += handle(session, inbound_id, Message.model_validate(stored))
                handled += 1
            except Exception as exc:  # one bad message must not hold up the batch
                log.exception("pipeline: message %d failed", inbound_id)
                ops.fail_inbound(session, inbound_id, f"{type(exc).__name__}: {exc}")
                failed += 1
    replies.enqueue_send(outbox_ids)
    return {"handled": handled, "failed": failed, "replies": len(outbox_ids)}


def handle(session: Session, inbound_id: int, msg: Message) -> list[int]:
    """Act on one message; return the ids of the replies it queued."""
    language = detect(msg.text, msg.language_hint)
    citizen = ops.upsert_citizen(session, msg.channel, msg.sender.id, msg.sender.name, msg.sender.username,
                                 msg.language_hint)
    ticket, text = _respond(session, inbound_id, msg, citizen, language)
    reply_id = replies.queue_reply(session, msg.address, text, f"reply:{inbound_id}",
                                   ticket_id=ticket.id if ticket else None, inbound_id=inbound_id)
    return [reply_id] if reply_id else []


def _respond(session: Session, inbound_id: int, msg: Message, citizen: Citizen, language: str) -> tuple[Ticket | None, str]:
    if msg.command:
        return None, commands.answer(session, msg, citizen, language)
    cfg = context.config()
    if msg.reply_to:
        ticket = ops.ticket_for_reply(session, msg.address.chat_key, msg.reply_to)
        if ticket is not None:
            _attach(session, ticket, inbound_id, msg, "citizen_comment")
            return ticket, render("comment", ticket.language, ticket=ticket.public_id)
    if not msg.text.strip() and (msg.location or msg.media):
        since = utcnow() - timedelta(minutes=cfg.attach_window_minutes)
        ticket = ops.recent_open_ticket(session, citizen.id, since)
        if ticket is not None:
            _attach(session, ticket, inbound_id, msg, "citizen_attachment")
            what = "what_both" if msg.location and msg.media else "what_location" if msg.location else "what_photo"
            return ticket, render("attached", ticket.language, what=render(what, ticket.language),
                                  ticket=ticket.public_id)
    tax = taxonomy(cfg.categories_file)
    if not msg.location and not msg.media and tax.is_chit_chat(msg.text):
        return None, render("chit_chat", language)
    return _file(session, inbound_id, msg, citizen, language)


def _file(session: Session, inbound_id: int, msg: Message, citizen: Citizen, language: str) -> tuple[Ticket, str]:
    cfg = context.config()
    tax = taxonomy(cfg.categories_file)
    rule = tax.match(msg.text) if msg.text else None
    ticket = ops.create_ticket(
        session, cfg.ticket_prefix,
        citizen_id=citizen.id, inbound_id=inbound_id, channel=msg.channel, text=msg.text, language=language,
        category=rule.category if rule else None, category_confidence=1.0 if rule else None,
        lat=msg.location.lat if msg.location else None, lon=msg.location.lon if msg.location else None,
        photo_file_id=msg.media[0].file_id if msg.media else None,
        reply_address=msg.address.model_dump(mode="json"), status="open",
    )
    ops.add_event(session, ticket.id, "created", f"citizen:{citizen.id}", inbound_id=inbound_id,
                  data={"category": ticket.category, "rule": rule.phrase if rule else None})
    if not msg.text.strip():
        return ticket, render("ack_needs_detail", language, ticket=ticket.public_id)
    category = tax.label(rule.category, language) if rule else render("category_unknown", language)
    return ticket, render("ack", language, ticket=ticket.public_id, category=category)


def _attach(session: Session, ticket: Ticket, inbound_id: int, msg: Message, kind: str) -> None:
    data = {"text": msg.text or None, "photo": msg.media[0].file_id if msg.media else None,
            "lat": msg.location.lat if msg.location else None, "lon": msg.location.lon if msg.location else None}
    if msg.location and ticket.lat is None:
        ticket.lat, ticket.lon = msg.location.lat, msg.location.lon
    if msg.media and ticket.photo_file_id is None:
        ticket.photo_file_id = msg.media[0].file_id
    ticket.updated_at = utcnow()
    ops.add_event(session, ticket.id, kind, f"citizen:{ticket.citizen_id}", data=data, inbound_id=inbound_id)
