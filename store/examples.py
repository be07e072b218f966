"""Labelled examples learnt from use (the categories citizens confirm or pick, officers' re-categorisations):
stored with the report's text masked, read back for training and export."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Citizen, Example, Ticket, TicketReporter, utcnow
from store.privacy import redact

Source = Literal["citizen_confirmed", "citizen_picked", "officer"]
SOURCES: tuple[Source, ...] = ("citizen_confirmed", "citizen_picked", "officer")
NAME_MASK = "[nama]"


@dataclass(frozen=True)
class Labelled:
    """One example as training and export read it (nothing that names anyone)."""

    text: str
    category: str
    source: str
    created_at: datetime


def add(session: Session, ticket: Ticket, category: str, source: Source, *, predicted: str | None,
        officer_id: int | None = None) -> Example | None:
    """Store the ticket's text as an example of `category`, masked; None when the ticket has no words to learn from."""
    if source not in SOURCES:
        raise ValueError(f"unknown example source {source!r}")
    text = mask(session, ticket)
    if not text:
        return None  # a photo or a location alone teaches the classifier nothing
    # A button pressed twice is one label, not two: repeats would weigh a report more than the others.
    if session.scalar(select(Example.id).where(Example.ticket_id == ticket.id, Example.category == category,
                                               Example.source == source).limit(1)) is not None:
        return None
    example = Example(text=text, category=category, source=source, officer_id=officer_id if source == "officer" else None,
                      ticket_id=ticket.id, predicted=predicted, created_at=utcnow())
    session.add(example)
    return example


def mask(session: Session, ticket: Ticket) -> str:
    """The ticket's text with phones, emails, handles, long numbers and links masked, and its reporters' names and
    usernames too (people sign their reports)."""
    text = redact(ticket.text or "").strip()
    names = session.execute(select(Citizen.display_name, Citizen.username).join(
        TicketReporter, TicketReporter.citizen_id == Citizen.id).where(TicketReporter.ticket_id == ticket.id)).all()
    for name in sorted({n for row in names for n in row if n and len(n) >= 3}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", NAME_MASK, text, flags=re.IGNORECASE)
    return text


def all_examples(session: Session) -> list[Labelled]:
    """Every stored example, oldest first."""
    rows = session.execute(select(Example.text, Example.category, Example.source, Example.created_at)
                           .order_by(Example.id))
    return [Labelled(r.text, r.category, r.source, r.created_at) for r in rows]
