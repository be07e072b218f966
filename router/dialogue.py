"""The router's side of the conversation: asking a citizen to confirm an uncertain category, reading the
answer (a button, a typed command, or a number from a menu on channels without buttons)."""
from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bots import registry
from ingest.message import Address, Message
from router import cards, context, lifecycle, questions, routing
from router.outcome import Button, Outcome, Reply
from router.templates import render
from store import examples, ops
from store.models import Outbox, Question, utcnow

log = logging.getLogger(__name__)

CHOOSE = "/kategori"
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


def confirm(reply: Reply, ticket_public_id: str, category: str, alternatives: tuple[str, ...], language: str) -> Reply:
    """`reply` asking whether the category is right, with a button for the category understood first, then one
    for each alternative (each answers `/kategori <ticket> <name>`; a bare number may answer them too)."""
    tax = context.taxonomy()
    buttons = tuple((Button(("✅ " if i == 0 else "") + tax.label(name, language), f"{CHOOSE} {ticket_public_id} {name}"),)
                    for i, name in enumerate((category, *alternatives)))
    return replace(reply, text=reply.text + render("category_question", language), buttons=buttons,
                   language=language, menu=True)


def confirm_extras(ticket_public_id: str, category: str, alternatives: tuple[str, ...], language: str) -> dict[str, Any]:
    """The buttons `confirm` adds, as the outbox stores them (for a reply built from stored parts)."""
    asked = confirm(Reply(Address(channel="", chat_id=""), "", ""), ticket_public_id, category, alternatives, language)
    return asked.extras() or {}


def is_number(text: str) -> bool:
    """True for a bare menu number ("2", "2.")."""
    return bool(_NUMBER.match(text or ""))


def resolve_number(session: Session, msg: Message) -> Message:
    """A bare number answering a numbered menu becomes the value of that menu's item; other messages pass."""
    found = _NUMBER.match(msg.text or "")
    if not found or msg.command or msg.media or msg.location:
        return msg
    menu = _menu_for(session, msg)
    if menu is None:
        return msg
    items = [b for row in (menu.extras or {}).get("buttons", []) for b in row]
    n = int(found.group(1))
    if not 1 <= n <= len(items):
        return msg
    value = items[n - 1]["value"]
    return msg.model_copy(update={"text": value, "command": value.split()[0] if value.startswith("/") else None,
                                  "reply_to": menu.provider_message_id or msg.reply_to})


def _menu_for(session: Session, msg: Message) -> Outbox | None:
    """The menu a number answers: the message it replies to, else a menu among the chat's last five
    messages from us, sent within the dialogue timeout (an officer's card is not a menu), else the menu of the
    chat's open "is it fixed?"."""
    if msg.reply_to:
        row = ops.outbox_for_reply(session, msg.address.chat_key, msg.reply_to)
        return row if row is not None and (row.extras or {}).get("menu") else None
    since = utcnow() - timedelta(minutes=context.config().dialogue_timeout_minutes)
    rows = session.scalars(select(Outbox).where(Outbox.chat_key == msg.address.chat_key, Outbox.created_at >= since)
                           .order_by(Outbox.id.desc()).limit(5))
    found = next((r for r in rows if (r.extras or {}).get("menu")), None)
    if found is not None:
        return found
    # "Is it fixed?" waits days (questions.FIXED_DAYS), not the dialogue timeout: its menu, while still open.
    asked = session.scalars(select(Question.asked_in).where(
        Question.chat_key == msg.address.chat_key, Question.kind == questions.FIXED, Question.status == "open",
        Question.expires_at > utcnow()).order_by(Question.id.desc()).limit(1)).first()
    row = session.scalars(select(Outbox).where(Outbox.dedupe_key == asked[-1])).first() if asked else None
    return row if row is not None and (row.extras or {}).get("menu") else None


def choose_category(session: Session, msg: Message, inbound_id: int, citizen_id: int,
                    language: str) -> Outcome:
    """`/kategori <ticket> <category>` from a reporter: confirm or correct the category while no officer has
    taken the ticket; a ticket already sent to another agency goes to the right one."""
    parts = msg.text.split()
    ticket = ops.ticket_by_public_id(session, parts[1]) if len(parts) >= 3 else None
    tax = context.taxonomy()
    chosen = parts[2].lower() if len(parts) >= 3 else ""
    if ticket is None or chosen not in tax.categories or chosen == "not_report" or \
            citizen_id not in {r.citizen_id for r in lifecycle.reporters(session, ticket.id)}:
        # No ticket on this answer: a reply to it must not reach a ticket that is not the sender's.
        return Outcome.about([Reply(msg.address, render("category_choice_unknown", language), f"reply:{inbound_id}",
                                    None, inbound_id)])
    session.refresh(ticket, with_for_update=True)

    def answer(key: str, **values: Any) -> list[Reply]:
        return [Reply(msg.address, render(key, language, **values), f"reply:{inbound_id}", ticket.id, inbound_id)]

    # An officer's category (router/recategorise.py) is not undone by the reporter's answer to an older question.
    if ticket.assigned_officer_id is not None or ticket.status not in ("needs_info", "open", "assigned") or \
            ops.tickets_with_event(session, [ticket.id], "recategorised"):
        return Outcome.about(stale(msg, inbound_id, ticket.id, render("category_too_late", language,
                                                                      ticket=ticket.public_id))
                             or answer("category_too_late", ticket=ticket.public_id))
    before = ticket.category
    ticket.category, ticket.category_confidence, ticket.updated_at = chosen, 1.0, utcnow()
    if chosen != before:  # the same category confirmed keeps the agency (an officer may have reassigned it)
        ticket.agency = routing.agency_for(chosen)
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": "category_confirmed", "actor": f"citizen:{citizen_id}",
                              "inbound_id": inbound_id, "data": {"from": before, "to": chosen}}])
    # What the citizen said is a label the classifier can learn from (`crophub train --with-confirmed`).
    examples.add(session, ticket, chosen, "citizen_confirmed" if chosen == before else "citizen_picked",
                 predicted=before)
    rows = answer("category_set", ticket=ticket.public_id, category=tax.label(chosen, language))
    rows += questions.end(session, ticket.id, questions.CATEGORY, "answered")
    if chosen != before and ticket.status == "assigned":  # sent out, but nobody has taken it yet
        # It went to the agency of the category first understood: its cards say so and lose their buttons, and
        # it goes back to open, so the dispatch job sends it to the right one (the reporter hears of that).
        cards_sent = ops.card_chats(session, ticket.id)
        rows += cards.tell(session, ticket, render("card_rerouted", "id", ticket=ticket.public_id,
                                                   before=tax.label(before, "id"), after=tax.label(chosen, "id")),
                           "rerouted")
        rows += questions.clear_buttons(session, [c.dedupe_key for c in cards_sent], ticket.id)
        rows += lifecycle.change(session, ticket, "open", f"citizen:{citizen_id}", note=f"{before} → {chosen}",
                                 inbound_id=inbound_id)
        log.info("dialogue: ticket %s re-routed: %s → %s by its reporter", ticket.public_id, before, chosen)
    return Outcome.about(rows)


def stale(msg: Message, inbound_id: int, ticket_id: int | None, text: str) -> list[Reply]:
    """The answer to a press on a button that no longer applies: a short notice on the button itself and the
    buttons removed, where the channel can (a Telegram press); [] elsewhere (the caller answers in words)."""
    if not msg.address.callback_id or not registry.offers(msg.channel, "edits"):
        return []
    return [Reply(msg.address, "", f"reply:{inbound_id}", ticket_id, inbound_id, toast=text[:200],
                  clear_buttons=msg.reply_to or None)]
