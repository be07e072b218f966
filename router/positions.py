"""Officers' live locations: an officer who shares a live location in chat (Telegram: the message that starts it,
then an edit of it for each new position, and one without a live period when they stop) is kept as their last
position and until when it is shared; supervisors see it on the officers' map while it lasts (web/crop_map.py).
Only the last position is kept, never a track, and nothing of it is public.

A citizen's live location is read as any shared location when it starts (it places their report); its later
positions are not new reports and are ignored."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bots import registry
from ingest.message import Location, Message
from router import clock
from router.filing import Item, reply_row
from router.outcome import Outcome
from router.templates import render
from store import officers as roster
from store.models import Officer, OfficerPosition

log = logging.getLogger(__name__)


def is_live(session: Session, item: Item) -> bool:
    """True for a live location's start, a new position or its stop."""
    location = item.msg.location
    return location is not None and location.live_until is not None


def handle(session: Session, item: Item) -> Outcome | None:
    """An officer's live location is kept (the start is acknowledged, each new position silently); a citizen's
    later positions are ignored; None for a citizen's start (read as any shared location)."""
    msg = item.msg
    location = msg.location
    if location is None or location.live_until is None:
        return None
    officer = _officer(session, msg)
    if officer is None:
        if location.live_update:
            log.info("positions: a live location update from a non-officer (message %d); ignored", item.inbound_id)
            return Outcome()
        return None
    at = msg.sent_at or msg.received_at
    kept = keep(session, officer, location, at)
    if location.live_update:
        return Outcome()  # a position every few seconds: no answer to each
    text = render("live_location_on", item.language, until=clock.show(location.live_until, item.language)) if kept \
        else render("live_location_old", item.language)
    return Outcome.about([reply_row(item, text)])


def keep(session: Session, officer: Officer, location: Location, at: datetime) -> bool:
    """Keep the officer's position at `at`, shared until `location.live_until`, unless a later one is kept
    already (updates may be handled out of order); → whether it was kept."""
    if location.live_until is None:
        raise ValueError("not a live location")
    row = session.get(OfficerPosition, officer.id, with_for_update=True)
    if row is None:
        try:
            with session.begin_nested():  # another worker may insert the officer's first position at once
                session.add(OfficerPosition(officer_id=officer.id, lat=location.lat, lon=location.lon,
                                            accuracy_m=location.accuracy_m, at=at, live_until=location.live_until))
            return True
        except IntegrityError:
            row = session.get(OfficerPosition, officer.id, with_for_update=True, populate_existing=True)
            if row is None:
                raise
    if row.at > at:
        return False
    row.lat, row.lon, row.accuracy_m, row.at = location.lat, location.lon, location.accuracy_m, at
    row.live_until = location.live_until
    return True


def _officer(session: Session, msg: Message) -> Officer | None:
    if not registry.offers(msg.channel, "officers"):
        return None
    return roster.by_identity(session, msg.channel, msg.sender.id)
