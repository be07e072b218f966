"""The pipeline job: stored messages become tickets (or command answers) and queued replies."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from ingest.message import Message
from nlp.lang import detect
from nlp.rules import taxonomy
from router import commands, context, replies
from router.templates import render
from store import db, ops
from store.models import Ticket, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One claimed message with what every step needs to know of it."""

    inbound_id: int
    msg: Message
    citizen_id: int
    language: str


def process_inbound(inbound_ids: list[int]) -> dict[str, int]:
    """Job: handle stored messages once each, then enqueue their replies."""
    with db.session() as session:
        # Claiming and handling share one transaction: a crash leaves the rows to be claimed again.
        messages: list[tuple[int, Message]] = []
        for inbound_id, stored in ops.claim_inbound(session, inbound_ids):
            try:
                messages.append((inbound_id, Message.model_validate(stored)))
            except ValidationError as exc:
                log.error("pipeline: message %d is not a valid Message: %s", inbound_id, exc)
                ops.fail_inbound(session, inbound_id, f"invalid message: {exc}")
        citizens = ops.upsert_citizens(session, [
            {"channel": m.channel, "external_id": m.sender.id, "display_name": m.sender.name,
             "username": m.sender.username, "language": m.language_hint} for _, m in messages
        ])
        items = [Item(i, m, citizens[(m.channel, m.sender.id)], detect(m.text, m.language_hint)) for i, m in messages]
        rows, failed = _handle_all(session, items)
        # Reports are filed before the rest: put replies back in the order the messages came.
        outbox_ids = replies.store(session, sorted(rows, key=lambda row: row["inbound_id"]))
    replies.enqueue_send(outbox_ids)
    return {"handled": len(items) - failed, "failed": failed, "replies": len(outbox_ids)}


def _handle_all(session: Session, items: list[Item]) -> tuple[list[dict[str, Any]], int]:
    """Plain new reports are filed together (the common case, in a few statements); the rest one by one."""
    tax = taxonomy(context.config().categories_file)
    plain = [i for i in items if _is_plain_report(i, tax.is_chit_chat)]
    rest = [i for i in items if i not in plain]
    rows: list[dict[str, Any]] = []
    try:
        with session.begin_nested():
            rows += file_reports(session, plain)
    except Exception:
        log.exception("pipeline: filing %d reports together failed; filing them one by one", len(plain))
        rest = plain + rest
    failed = 0
    for item in rest:
        try:
            with session.begin_nested():
                rows += handle(session, item)
        except Exception as exc:  # one bad message must not hold up the batch
            log.exception("pipeline: message %d failed", item.inbound_id)
            ops.fail_inbound(session, item.inbound_id, f"{type(exc).__name__}: {exc}")
            failed += 1
    return rows, failed


def _is_plain_report(item: Item, is_chit_chat: Any) -> bool:
    msg = item.msg
    return (not msg.command and not msg.reply_to and bool(msg.text.strip())
            and bool(msg.location or msg.media or not is_chit_chat(msg.text)))


def handle(session: Session, item: Item) -> list[dict[str, Any]]:
    """Act on one message of any kind; return the reply rows it produces."""
    msg, language = item.msg, item.language
    cfg = context.config()
    if msg.command:
        return [_reply(item, commands.answer(session, msg, item.citizen_id, language))]
    if msg.reply_to:
        ticket = ops.ticket_for_reply(session, msg.address.chat_key, msg.reply_to)
        if ticket is not None:
            _attach(session, ticket, item, "citizen_comment")
            return [_reply(item, render("comment", ticket.language, ticket=ticket.public_id), ticket.id)]
    if not msg.text.strip() and (msg.location or msg.media):
        since = utcnow() - timedelta(minutes=cfg.attach_window_minutes)
        ticket = ops.recent_open_ticket(session, item.citizen_id, since)
        if ticket is not None:
            _attach(session, ticket, item, "citizen_attachment")
            what = "what_both" if msg.location and msg.media else "what_location" if msg.location else "what_photo"
            return [_reply(item, render("attached", ticket.language, what=render(what, ticket.language),
                                        ticket=ticket.public_id), ticket.id)]
    if not msg.location and not msg.media and taxonomy(cfg.categories_file).is_chit_chat(msg.text):
        return [_reply(item, render("chit_chat", language))]
    return file_reports(session, [item])


def file_reports(session: Session, items: list[Item]) -> list[dict[str, Any]]:
    """File a ticket for each report, with its audit event and acknowledgement."""
    if not items:
        return []
    cfg = context.config()
    tax = taxonomy(cfg.categories_file)
    rules = [tax.match(i.msg.text) if i.msg.text else None for i in items]
    made = ops.create_tickets(session, cfg.ticket_prefix, [
        {"citizen_id": i.citizen_id, "inbound_id": i.inbound_id, "channel": i.msg.channel, "text": i.msg.text,
         "language": i.language, "category": rule.category if rule else None,
         "category_confidence": 1.0 if rule else None,
         "lat": i.msg.location.lat if i.msg.location else None, "lon": i.msg.location.lon if i.msg.location else None,
         "photo_file_id": i.msg.media[0].file_id if i.msg.media else None,
         "reply_address": i.msg.address.model_dump(mode="json")}
        for i, rule in zip(items, rules)
    ])
    ops.add_events(session, [
        {"ticket_id": ticket_id, "kind": "created", "actor": f"citizen:{i.citizen_id}", "inbound_id": i.inbound_id,
         "data": {"category": rule.category if rule else None, "rule": rule.phrase if rule else None}}
        for (ticket_id, _), i, rule in zip(made, items, rules)
    ])
    rows = []
    for (ticket_id, public_id), item, rule in zip(made, items, rules):
        if not item.msg.text.strip():
            text = render("ack_needs_detail", item.language, ticket=public_id)
        else:
            category = tax.label(rule.category, item.language) if rule else render("category_unknown", item.language)
            text = render("ack", item.language, ticket=public_id, category=category)
        rows.append(_reply(item, text, ticket_id))
    return rows


def _reply(item: Item, text: str, ticket_id: int | None = None) -> dict[str, Any]:
    return replies.reply(item.msg.address, text, f"reply:{item.inbound_id}", ticket_id, item.inbound_id)


def _attach(session: Session, ticket: Ticket, item: Item, kind: str) -> None:
    msg = item.msg
    data = {"text": msg.text or None, "photo": msg.media[0].file_id if msg.media else None,
            "lat": msg.location.lat if msg.location else None, "lon": msg.location.lon if msg.location else None}
    if msg.location and ticket.lat is None:
        ticket.lat, ticket.lon = msg.location.lat, msg.location.lon
    if msg.media and ticket.photo_file_id is None:
        ticket.photo_file_id = msg.media[0].file_id
    ticket.updated_at = utcnow()
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": kind, "actor": f"citizen:{item.citizen_id}",
                              "data": data, "inbound_id": item.inbound_id}])
