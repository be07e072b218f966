"""Citizen commands: /start, /help, /status [ticket id], /publik nama <alias> | hapus."""
from __future__ import annotations

import logging
import re
from typing import Callable

from sqlalchemy.orm import Session

from ingest.message import Message
from router import aliases, clock, context, ticket_ids
from router.templates import render, status_label
from store import ops

log = logging.getLogger(__name__)


def _start(session: Session, msg: Message, citizen_id: int, language: str) -> str:
    return render("start", language)


def _help(session: Session, msg: Message, citizen_id: int, language: str) -> str:
    return render("help", language)


def _status(session: Session, msg: Message, citizen_id: int, language: str) -> str:
    parts = msg.text.split(maxsplit=1)
    tax = context.taxonomy()
    if len(parts) < 2:
        tickets = ops.tickets_of_citizen(session, citizen_id)
        if not tickets:
            return render("status_none", language)
        lines = "\n".join(f"{t.public_id} — {status_label(t.status, language)}" for t in tickets)
        return render("status_list", language, lines=lines)
    asked = parts[1].split()[0]
    public_id = ticket_ids.parse(asked)
    if public_id is None:
        # Not a ticket number at all: no lookup, and only its start is echoed (a 5,000-digit "id" made a reply
        # longer than any channel takes).
        log.info("commands: /status with %d characters that are not a ticket id: %r", len(asked), asked[:40])
        return render("status_unknown", language, ticket=ticket_ids.shown(asked))
    ticket = ops.ticket_by_public_id(session, public_id)
    if ticket is None:
        return render("status_unknown", language, ticket=public_id)
    category = tax.label(ticket.category, language) if ticket.category else render("category_unknown", language)
    # Status, category and date only: a ticket may be someone else's, so nothing personal is shown.
    return render("status", language, ticket=ticket.public_id, status=status_label(ticket.status, language),
                  category=category, created=clock.show(ticket.created_at, language))


def _publik(session: Session, msg: Message, citizen_id: int, language: str) -> str:
    """Opt in to the public page's top reporters under a handle, or out again; alone, says which it is now."""
    parts = msg.text.split(maxsplit=2)
    verb = parts[1].lower() if len(parts) > 1 else ""
    if verb in aliases.VERBS_CLEAR:
        return render("alias_cleared" if aliases.clear_alias(session, citizen_id) else "alias_none", language)
    if verb in aliases.VERBS_SET and len(parts) > 2:
        try:
            return render("alias_set", language, alias=aliases.set_alias(session, citizen_id, parts[2]))
        except aliases.Refused as refused:
            aliases.log_refusal(str(refused), parts[2])
            return render(str(refused), language)
    if verb in aliases.VERBS_SET:
        return render("alias_short", language)
    alias = aliases.current(session, citizen_id)
    return render("alias_current", language, alias=alias) if alias else render("alias_usage", language)


# Command → handler; anything else gets the help text.
COMMANDS: dict[str, Callable[[Session, Message, int, str], str]] = {
    "/start": _start,
    "/help": _help,
    "/bantuan": _help,
    "/status": _status,
    "/cek": _status,
    "/publik": _publik,
    "/public": _publik,
}


# The status question in words, as citizens who type no slash ask it (SMS, WhatsApp): "cek status JKT-2026-000123",
# "status tiket JKT-…", "cek JKT-…", "cek status". Only a whole message: a report that mentions a status is a report.
_SPOKEN_STATUS = re.compile(r"(?:cek\s+status|status|cek)(?:\s+(?:tiket|laporan))?(?:\s+(\S+))?[\s.?!]*", re.I)


def spoken(text: str) -> str | None:
    """The command a message asks for in words ("/status JKT-…" for "cek status JKT-…"), or None."""
    found = _SPOKEN_STATUS.fullmatch(text.strip())
    if found is None:
        return None
    asked = found.group(1)
    if asked is None:
        return "/status"
    public_id = ticket_ids.parse(asked.rstrip(".?!"))
    return f"/status {public_id}" if public_id else None


def answer(session: Session, msg: Message, citizen_id: int, language: str) -> str:
    """The reply to a command message, or to a command asked in words (`spoken`)."""
    if msg.command is None and (said := spoken(msg.text)) is not None:
        msg = msg.model_copy(update={"text": said, "command": "/status"})
    return COMMANDS.get(msg.command or "", _help)(session, msg, citizen_id, language)
