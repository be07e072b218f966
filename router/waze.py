"""Waze alerts in CROP: an alert joins a citizen's ticket of the same category nearby as corroboration, or
files a ticket of its own when drivers corroborate it; when it leaves the feed, a ticket it alone filed
closes itself with a note. Citizens' reports join Waze tickets by the ordinary duplicate rule.

The poller (ingest/waze) keeps the `waze_alerts` rows; each inbound message on the waze channel names one,
and `reconcile` acts on the row as it is now, so replays and out-of-order messages do no harm.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.message import Address, Message
from nlp.geocode import Place, reverse_place
from router import context, duplicates, lifecycle, routing
from router.outcome import Outcome, Reply
from router.templates import render
from store import ops
from store.models import Outbox, Ticket, TicketEvent, TicketReporter, WazeAlert, utcnow

log = logging.getLogger(__name__)

CHANNEL = "waze"
ACTOR = "waze"


def handle(session: Session, inbound_id: int, msg: Message) -> Outcome:
    """Act on the alert a waze message names; → the tickets it filed (to send to officers) and its replies."""
    row = session.get(WazeAlert, msg.address.chat_id, with_for_update=True)
    if row is None:
        log.warning("waze: message %d names alert %s, which is not tracked; ignored", inbound_id, msg.address.chat_id)
        return Outcome()
    return reconcile(session, row, msg.text, inbound_id)


def reconcile(session: Session, row: WazeAlert, text: str, inbound_id: int | None = None) -> Outcome:
    """Bring the alert's ticket in line with the alert (`text` describes it for officers); → the tickets it
    filed and its replies."""
    ticket = session.get(Ticket, row.ticket_id, with_for_update=True) if row.ticket_id else None
    if row.status == "gone":
        return Outcome(tuple(_gone(session, row, ticket, inbound_id)) if ticket is not None else ())
    if ticket is not None and ticket.status in duplicates.JOINABLE:
        _event(session, ticket, "waze_updated", row, inbound_id)
        return Outcome()
    if ticket is not None:
        if not _closed_by_feed(session, ticket):
            return Outcome()  # officers finished with it; an alert that lingers in the feed does not reopen it
        row.ticket_id = None  # it left the feed, its ticket closed, and it is back: it is a new report
    same = duplicates.find(session, row.category, row.lat, row.lon, "point")
    if same is not None:
        session.refresh(same, with_for_update=True)  # another alert's departure may be closing it this moment
    if same is not None and same.status in duplicates.JOINABLE:
        row.ticket_id = same.id
        same.updated_at = utcnow()
        _event(session, same, "corroborated", row, inbound_id)
        log.info("waze: alert %s corroborates ticket %s", row.key, same.public_id)
        return Outcome()
    if not row.corroborated:
        return Outcome()  # not enough drivers yet: an update that lifts its score brings it back here
    place = reverse_place(row.lat, row.lon)
    if place.kab_kota is None:
        # The feed's area is a box around the city: Bekasi, Depok and Tangerang are for their own officers.
        log.info("waze: alert %s (%s) is outside Jakarta; no ticket", row.key, row.kind_key)
        return Outcome()
    return Outcome(filed=frozenset({_file(session, row, place, text, inbound_id)}))


def attach_nearby(session: Session, tickets: list[dict[str, Any]]) -> int:
    """Alerts in the feed that filed nothing (too few drivers yet) join a citizen's new ticket of their category
    nearby, by the duplicate rule, as its corroboration. `tickets`: id, category, lat, lon, geocode_source.
    → alerts attached."""
    placed = [t for t in tickets if t["category"] and t["lat"] is not None and t["lon"] is not None
              and t["geocode_source"] in duplicates.PRECISE]
    if not placed:
        return 0
    margin = max(duplicates.rule(t["category"])["radius_m"] for t in placed) / 111_320
    lats = [t["lat"] for t in placed]
    # One query for the whole batch (usually nothing: Waze off, or no weak alert of these categories here),
    # without locks: a latitude band is wide, and locking it would block feed jobs across the city.
    stmt = (select(WazeAlert.key, WazeAlert.category, WazeAlert.lat, WazeAlert.lon)
            .where(WazeAlert.ticket_id.is_(None), WazeAlert.status == "active",
                   WazeAlert.category.in_({t["category"] for t in placed}),
                   WazeAlert.lat.between(min(lats) - margin, max(lats) + margin)))
    matches: dict[str, int] = {}
    for key, category, lat, lon in session.execute(stmt):
        near = sorted((duplicates.distance_m(lat, lon, t["lat"], t["lon"]), t["id"]) for t in placed
                      if t["category"] == category)
        if near and near[0][0] <= duplicates.rule(category)["radius_m"]:
            matches[key] = near[0][1]
    if not matches:
        return 0
    # Only the matches are locked, and one a feed job holds is left to it (it will place the alert itself).
    locked = session.scalars(select(WazeAlert).where(WazeAlert.key.in_(list(matches)), WazeAlert.ticket_id.is_(None))
                             .order_by(WazeAlert.key).with_for_update(skip_locked=True))
    attached = 0
    for row in locked:
        row.ticket_id = matches[row.key]
        ops.add_events(session, [{"ticket_id": row.ticket_id, "kind": "corroborated", "actor": ACTOR,
                                  "data": _alert_data(row)}])
        attached += 1
    return attached


def is_feed_only(session: Session, ticket: Ticket) -> bool:
    """True when nobody but a feed reported the ticket."""
    stmt = select(func.count()).select_from(TicketReporter).where(TicketReporter.ticket_id == ticket.id)
    return ticket.citizen_id is None and not session.scalar(stmt)


def _file(session: Session, row: WazeAlert, place: Place, text: str, inbound_id: int | None) -> int:
    cfg = context.config()
    fields = place.fields()
    [(ticket_id, public_id)] = ops.create_tickets(session, cfg.ticket_prefix, [{
        "citizen_id": None, "inbound_id": inbound_id, "channel": CHANNEL, "text": text, "language": "id",
        "category": row.category, "category_confidence": None, "lat": row.lat, "lon": row.lon,
        "place_text": (row.street or None) and row.street[:255], "kelurahan_kode": fields["kelurahan_kode"],
        "kecamatan_kode": fields["kecamatan_kode"], "kab_kota_kode": fields["kab_kota_kode"],
        "geocode_source": place.source, "photo_file_id": None,
        "reply_address": Address(channel=CHANNEL, chat_id=row.key).model_dump(mode="json"),
        "agency": routing.agency_for(row.category), "status": "open",
    }])
    row.ticket_id = ticket_id
    ops.add_events(session, [{"ticket_id": ticket_id, "kind": "created", "actor": ACTOR, "inbound_id": inbound_id,
                              "data": {"category": row.category, "category_source": "waze", "geocode_source": place.source,
                                       **_alert_data(row)}}])
    log.info("waze: alert %s (%s, score %d) filed ticket %s", row.key, row.kind_key, row.score, public_id)
    return ticket_id


def _gone(session: Session, row: WazeAlert, ticket: Ticket, inbound_id: int | None) -> list[Reply]:
    """The alert left the feed: noted on its ticket; a ticket only Waze reported closes itself unless an officer
    is working on it."""
    _event(session, ticket, "waze_gone", row, inbound_id)
    others = session.scalar(select(func.count()).select_from(WazeAlert).where(
        WazeAlert.ticket_id == ticket.id, WazeAlert.status == "active", WazeAlert.key != row.key))
    if others or not is_feed_only(session, ticket) or not _closable(ticket):
        return []
    note = render("waze_gone_note", "id")
    rows = lifecycle.change(session, ticket, "closed", ACTOR, note=note, inbound_id=inbound_id)
    log.info("waze: alert %s left the feed; ticket %s closed", row.key, ticket.public_id)
    return rows + _tell_officers(session, ticket, note)


def close_resolved(session: Session, ticket: Ticket) -> list[Reply]:
    """A feed-only ticket an officer just resolved closes when none of its alerts is still in the feed (it
    stayed open for the officer when the alert left; nobody else will ever confirm the fix)."""
    if ticket.status != "resolved" or ticket.channel != CHANNEL or not is_feed_only(session, ticket):
        return []
    active = session.scalar(select(func.count()).select_from(WazeAlert).where(
        WazeAlert.ticket_id == ticket.id, WazeAlert.status == "active"))
    if active:
        return []  # still in the feed: its departure closes the ticket (router/waze._gone)
    return lifecycle.change(session, ticket, "closed", ACTOR, note=render("waze_gone_note", "id"))


def _closable(ticket: Ticket) -> bool:
    """Whether a feed-only ticket may close as its alert leaves: not while an officer works on it (Waze drops
    an alert nobody re-confirms, and the pothole may still be there), but once one has resolved it."""
    if ticket.status == "resolved":
        return True  # nobody is left to confirm the fix: the alert's departure does
    return ticket.status == "open" or (ticket.status == "assigned" and ticket.assigned_officer_id is None)


def _tell_officers(session: Session, ticket: Ticket, note: str) -> list[Reply]:
    """Every chat holding the ticket's card hears why it closed (the card would refuse them now)."""
    cards = session.scalars(select(Outbox).where(Outbox.ticket_id == ticket.id).order_by(Outbox.id))
    chats = {row.chat_key: Address(**row.address) for row in cards if (row.extras or {}).get("card")}
    text = render("waze_closed_officer", "id", ticket=ticket.public_id, note=note)
    return [Reply(Address(**{**to.model_dump(), "reply_to": None}), text, f"waze-closed:{ticket.id}:{chat_key}", ticket.id)
            for chat_key, to in chats.items()]


def _closed_by_feed(session: Session, ticket: Ticket) -> bool:
    """Whether the ticket's last status change was a feed closing it."""
    last = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "status")
                           .order_by(TicketEvent.id.desc()).limit(1)).first()
    return ticket.status == "closed" and last is not None and last.actor == ACTOR


def _event(session: Session, ticket: Ticket, kind: str, row: WazeAlert, inbound_id: int | None) -> None:
    ticket.updated_at = utcnow()
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": kind, "actor": ACTOR, "inbound_id": inbound_id,
                              "data": _alert_data(row)}])


def _alert_data(row: WazeAlert) -> dict[str, Any]:
    return {"alert": row.key, "kind": row.kind_key, "score": row.score, "corroborated": row.corroborated,
            "version": row.version, **(row.data or {})}

