"""Duplicate reports: a new report near an active ticket of the same category. Its citizen is asked whether to
support that ticket (router/nearby.py reads the answer); a citizen's own ticket, or a channel nobody can ask
(Open311), needs no question: the first is joined, the second filed with a `nearby` hint."""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from router import context, questions
from router.outcome import Button, Reply
from router.templates import render, status_label
from store import ops
from store.models import Ticket, TicketReporter, utcnow

# Ticket statuses a new report may join: officers have not finished with them.
JOINABLE = ("open", "assigned", "taken", "in_progress", "reopened")
SUPPORT, SEPARATE = "/dukung", "/baru"  # the answers' commands: `/dukung <new ticket> <nearby ticket>`
# Places precise enough to compare distances (an area's centre is not where anything happened).
PRECISE = ("point", "nominatim")
_EARTH_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(math.sqrt(a))


def rule(category: str) -> dict[str, float]:
    """The category's radius_m and window_hours."""
    rules = context.config().duplicates
    return rules.get(category, rules["default"])


def find(session: Session, category: str | None, lat: float | None, lon: float | None,
         source: str | None) -> Ticket | None:
    """The nearest joinable ticket of `category` within its radius and window, if the place is precise."""
    found = nearest(session, category, lat, lon, source)
    return found[0] if found else None


def nearest(session: Session, category: str | None, lat: float | None, lon: float | None,
            source: str | None) -> tuple[Ticket, float] | None:
    """(the nearest joinable ticket of `category` within its radius and window, metres away), if the place is
    precise."""
    if not category or category == "not_report" or lat is None or lon is None or source not in PRECISE:
        return None
    r = rule(category)
    dlat = r["radius_m"] / 111_320
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    stmt = select(Ticket).where(
        Ticket.category == category, Ticket.status.in_(JOINABLE), Ticket.geocode_source.in_(PRECISE),
        Ticket.created_at >= utcnow() - timedelta(hours=r["window_hours"]),
        Ticket.lat.between(lat - dlat, lat + dlat), Ticket.lon.between(lon - dlon, lon + dlon),
    )
    near = [(distance_m(lat, lon, t.lat, t.lon), t.id, t) for t in session.scalars(stmt)
            if t.lat is not None and t.lon is not None]
    near = [n for n in near if n[0] <= r["radius_m"]]
    if not near:
        return None
    metres, _, ticket = min(near)
    return ticket, metres


def locked(session: Session, category: str | None, lat: float | None, lon: float | None,
           source: str | None) -> tuple[Ticket, float] | None:
    """`nearest`, locked and looked at again: a feed may be closing it this moment (router/waze.py locks it too)."""
    found = nearest(session, category, lat, lon, source)
    if found is None:
        return None
    session.refresh(found[0], with_for_update=True)
    return found if found[0].status in JOINABLE else None


def shown_distance(metres: float) -> int:
    """Metres as the citizen reads them: to the nearest 10 m, never 0."""
    return max(10, int(round(metres / 10.0)) * 10)


def offer(session: Session, reply: Reply, ticket_id: int, public_id: str, same: Ticket, metres: float,
          citizen_id: int, language: str, inbound_id: int | None = None) -> Reply:
    """`reply` asking whether to support `same` instead of filing ticket `public_id` (which waits in needs_info
    meanwhile): Ya/Tidak buttons, a numbered menu where there are none; recorded and audited."""
    lang = language
    text = render("nearby_question", lang, ticket=same.public_id, distance=shown_distance(metres),
                  category=context.taxonomy().label(same.category, lang), status=status_label(same.status, lang),
                  minutes=context.config().nearby_wait_minutes)
    pair = f"{public_id} {same.public_id}"
    asked = replace(reply, text=f"{reply.text}\n\n{text}" if reply.text else text, ticket_id=ticket_id,
                    language=lang, menu=True,
                    buttons=((Button(render("btn_support", lang), f"{SUPPORT} {pair}"),
                              Button(render("btn_separate", lang), f"{SEPARATE} {pair}")),))
    questions.ask(session, ticket_id, citizen_id, asked.chat_key, questions.NEARBY, asked.key)
    ops.add_events(session, [{"ticket_id": ticket_id, "kind": "nearby_offered", "actor": "router",
                              "inbound_id": inbound_id,
                              "data": {"ticket": same.public_id, "distance_m": round(metres)}}])
    return asked


def hint(session: Session, ticket_id: int, same: Ticket, metres: float, inbound_id: int | None = None) -> None:
    """Note on a ticket filed without asking (Open311) which ticket it may duplicate (`duplicate_of`)."""
    ops.add_events(session, [{"ticket_id": ticket_id, "kind": "nearby", "actor": "router", "inbound_id": inbound_id,
                              "data": {"ticket": same.public_id, "distance_m": round(metres)}}])


def is_reporter(session: Session, ticket: Ticket, citizen_id: int) -> bool:
    """Whether the citizen reported `ticket` already (their own re-send joins it without a question)."""
    return session.get(TicketReporter, (ticket.id, citizen_id)) is not None

