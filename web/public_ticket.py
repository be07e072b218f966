"""What the public may see of one ticket (the page /t/<public id> and its JSON twin): category, area, the agency
holding it, the status trail in WIB, photos when the city publishes them; never who reported it or who worked on it.

Shown: a citizen's report (not a non-report, not a ticket the Waze feed filed that no citizen joined: Waze's terms
keep its alerts off public pages). A duplicate's page says which ticket it joined. The trail is built from the
ticket's events, by kind, in fixed words: officers' free notes are not shown (they may name people), except a
handoff's note, which says publicly where and why a ticket moved, and is masked like the report's text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from router import areas, clock, context, handoff, routing
from router.templates import TEMPLATES, render, status_label
from store import ops
from store.models import Citizen, Ticket, TicketEvent, TicketReporter
from web.media import servable
from web.privacy import redact

TEXT_CHARS = 1000  # the report's text, masked, on its page (the map's popups show 280)
NOTE_CHARS = 300
HANDOFF_KINDS = frozenset({handoff.KIND})  # its data names the new holder and the reason for the public
FEED_CHANNELS = frozenset({"waze"})


@dataclass(frozen=True)
class TrailEntry:
    """One line of the public trail: when (WIB and ISO 8601), what happened, and a public-safe detail."""

    at: str
    iso: str | None
    what: str
    detail: str = ""
    ticket: str | None = None  # another ticket this line links to (the one a duplicate joined)


@dataclass(frozen=True)
class TicketView:
    """A ticket as the public sees it."""

    id: str
    category: str | None  # the code (None: not decided yet)
    category_label: str
    status: str
    status_label: str
    closed: bool
    area: str
    agency: str
    created: str
    created_iso: str | None
    lat: float | None
    lon: float | None
    text: str | None  # masked; None when web.public_text is off or the text is a feed's
    photo_report: str | None  # URLs, when the city publishes photos and the ticket has one
    photo_result: str | None
    duplicate_of: str | None  # the ticket a duplicate joined (when that one is public)
    supporters: int  # reporters beyond the first (reports merged into it)
    trail: list[TrailEntry] = field(default_factory=list)


def photo_url(public_id: str, which: str) -> str:
    """Where the public sees a ticket's photo: `which` is "report" (the citizen's) or "result" (the officer's)."""
    return f"/t/{public_id}/photo/{which}"


def find(session: Session, public_id: str) -> Ticket | None:
    """The ticket with `public_id` when the public may see it; None when there is none or it is not public."""
    ticket = ops.ticket_by_public_id(session, public_id)
    return ticket if ticket is not None and is_public(session, ticket) else None


def is_public(session: Session, ticket: Ticket) -> bool:
    """A citizen's report: not a non-report, and not a ticket only a feed (Waze) filed and no citizen joined."""
    if ticket.category == "not_report" or ticket.public_id is None:
        return False
    if ticket.citizen_id is None:
        return bool(session.scalar(select(exists().where(TicketReporter.ticket_id == ticket.id))))
    return True


def photo_ref(session: Session, public_id: str, which: str) -> str | None:
    """The stored reference of a public ticket's photo (`which`: report or result); None when there is none."""
    ticket = find(session, public_id)
    if ticket is None or ticket.status == "duplicate":  # its photo went to the ticket it joined
        return None
    return ticket.photo_file_id if which == "report" else ticket.resolution_photo_file_id if which == "result" else None


def view(session: Session, ticket: Ticket, public_text: bool, public_photos: bool) -> TicketView:
    """`ticket` (a public one: see `find`) as the public sees it."""
    tax = context.taxonomy()
    public_id = ticket.public_id or ""
    target = session.get(Ticket, ticket.duplicate_of_id) if ticket.duplicate_of_id else None
    duplicate_of = target.public_id if target is not None and is_public(session, target) else None
    events = list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                  .order_by(TicketEvent.id)))  # as they happened
    reporters = session.scalar(select(func.count()).select_from(TicketReporter)
                               .where(TicketReporter.ticket_id == ticket.id)) or 0
    text = None
    if public_text and ticket.channel not in FEED_CHANNELS and ticket.text.strip():
        text = mask_names(redact(ticket.text), _reporter_names(session, ticket.id))[:TEXT_CHARS]
    photos = public_photos and ticket.status != "duplicate"
    return TicketView(
        id=public_id, category=ticket.category,
        category_label=tax.label(ticket.category, "id") if ticket.category else render("category_unknown", "id"),
        status=ticket.status, status_label=status_words(ticket.status), closed=ticket.status in ("closed", "rejected"),
        area=_area(ticket), agency=handoff.holder_words(ticket),
        created=clock.show(ticket.created_at), created_iso=clock.iso(ticket.created_at),
        lat=round(ticket.lat, 5) if ticket.lat is not None else None,
        lon=round(ticket.lon, 5) if ticket.lon is not None else None,
        text=text,
        photo_report=photo_url(public_id, "report") if photos and servable(ticket.photo_file_id) else None,
        photo_result=photo_url(public_id, "result") if photos and servable(ticket.resolution_photo_file_id) else None,
        duplicate_of=duplicate_of, supporters=max(reporters - 1, 0),
        trail=trail(events, ticket, duplicate_of))


def _area(ticket: Ticket) -> str:
    return areas.name_of(ticket.kelurahan_kode, ticket.kecamatan_kode, ticket.kab_kota_kode) or "lokasi belum diketahui"


def status_words(status: str) -> str:
    """A status as the public reads it (the officers' words, about "pelapor", never "Anda"), capitalised."""
    words = status_label(status, "id", officer=True)
    return words[:1].upper() + words[1:]


def _reporter_names(session: Session, ticket_id: int) -> list[str]:
    """The names and handles of everyone who reported the ticket, as their channels gave them."""
    stmt = (select(Citizen.display_name, Citizen.username)
            .join(TicketReporter, TicketReporter.citizen_id == Citizen.id).where(TicketReporter.ticket_id == ticket_id))
    found: list[str] = []
    for row in session.execute(stmt):
        found += [n for n in (row.display_name, row.username) if n]
    return found


MIN_NAME_PART = 3  # shorter words of a name ("Al", "Ny") are also ordinary words: left alone


def mask_names(text: str, names: list[str]) -> str:
    """`text` with the reporters' names (whole, and each word of them) and handles masked as "[nama]"."""
    parts = {p for n in names for p in [n, *n.split()] if len(p.strip()) >= MIN_NAME_PART}
    # Longest first: "Budi Santoso" goes as one mask, not two.
    for part in sorted(parts, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(part.strip())}(?!\w)", "[nama]", text, flags=re.IGNORECASE)
    return text


def trail(events: list[TicketEvent], ticket: Ticket, duplicate_of: str | None) -> list[TrailEntry]:
    """The ticket's public trail, oldest first: its events by kind, in fixed words."""
    # The agency a line names is the one holding the ticket then: first the one its filed category goes to.
    created = next((e for e in events if e.kind == "created" and isinstance(e.data, Mapping)), None)
    agency = routing.agency_for((created.data or {}).get("category")) if created else None
    agency = agency or routing.agency_of(ticket)
    lines = []
    for event in events:
        data: Mapping[str, Any] = event.data if isinstance(event.data, Mapping) else {}
        if event.kind == "recategorised" or event.kind in HANDOFF_KINDS:
            agency = data.get("agency") or agency
        elif event.kind == "status" and _reassigned_to(data):
            agency = _reassigned_to(data)
        line = _line(event.kind, data, agency, duplicate_of)
        if line is not None:
            what, detail, link = line
            lines.append(TrailEntry(clock.show(event.created_at), clock.iso(event.created_at), what, detail, link))
    if not any(e.kind == "created" for e in events):  # a ticket from before events were kept
        lines.insert(0, TrailEntry(clock.show(ticket.created_at), clock.iso(ticket.created_at), "Laporan diterima"))
    return lines


def _reassigned_to(data: Mapping[str, Any]) -> str | None:
    """The agency code a reassignment's status note names ("→ dsda", router/crop.py), or None."""
    note = str(data.get("note") or "")
    code = note[2:].strip() if note.startswith("→ ") else ""
    return code if code in routing.agency_codes() else None


def _agency(code: str | None) -> str:
    return routing.agency_name(code) or render("agency_unknown", "id")


def _line(kind: str, data: Mapping[str, Any], agency: str | None,
          duplicate_of: str | None) -> tuple[str, str, str | None] | None:
    """(what, detail, linked ticket) of one event, or None for events the public does not see (questions,
    refused actions, internal routing notes)."""
    tax = context.taxonomy()
    if kind == "created":
        return "Laporan diterima", "", None
    if kind == "place_set":
        return "Lokasi dilengkapi pelapor", "", None
    if kind == "merged":
        return "Laporan serupa dari warga lain digabung ke tiket ini", "", None
    if kind == "recategorised":
        before, after = data.get("from"), data.get("to")
        if not after:
            return None
        label = f"{tax.label(before, 'id')} → " if before else ""
        return "Kategori diubah", f"{label}{tax.label(after, 'id')} ({_agency(data.get('agency'))})", None
    if kind in HANDOFF_KINDS:
        return "Dialihkan", _handoff_detail(data), None
    if kind != "status":
        return None
    to = str(data.get("to") or "")
    if to == "duplicate":
        return "Digabung dengan laporan lain", (f"ke {duplicate_of}" if duplicate_of else ""), duplicate_of
    if to == "assigned" and data.get("who") in TEMPLATES:
        who = render(str(data["who"]), "id", agency=_agency(agency),
                     **{k: str(v) for k, v in data.items() if k in ("unit",)})
        return status_words(to), f"ke {who}", None
    if to == "open" and _reassigned_to(data):
        return "Dialihkan ke dinas lain", _agency(_reassigned_to(data)), None
    if to == "resolved" and data.get("photo"):
        return status_words(to), "dengan foto hasil", None
    return (status_words(to), "", None) if to else None


def _handoff_detail(data: Mapping[str, Any]) -> str:
    """Where a handoff sent the ticket and why, from what router/handoff.py wrote for the public (the new holder's
    name and the reason's configured words, else its note; never the officer's own words): masked, cut."""
    to, reason = str(data.get("to_name") or "").strip(), str(data.get("reason_label") or "").strip()
    words = f"ke {to}" + (f" (alasan: {reason})" if reason else "") if to else str(data.get("note") or "").strip()
    return redact(words)[:NOTE_CHARS]
