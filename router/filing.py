"""Filing reports as tickets: where a message is, the ticket it opens or joins, and its acknowledgement."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from bots import registry
from ingest.message import Message
from nlp.classify import Prediction
from nlp.geocode import Place, reverse_place
from nlp.place_rules import located, place_of, precise, vague
from nlp.gazetteer import gazetteer
from nlp.places import street_of
from router import cards, context, dialogue, duplicates, lifecycle, links, questions, routing, waze
from router.outcome import Reply, fold
from router.templates import render, status_label
from store import ops
from store.media import MediaRef
from store.models import Ticket, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One claimed message with what every step needs to know of it."""

    inbound_id: int
    msg: Message
    citizen_id: int
    language: str
    prediction: Prediction


def set_place(ticket: Ticket, place: Place | None, said: str | None = None) -> None:
    """Give a ticket waiting for its place the place a citizen's answer names (when it names one)."""
    if located(place):
        for column, value in place_columns(place, said).items():
            setattr(ticket, column, value)


def completed(session: Session, ticket: Ticket, item: Item, rows: list[Reply]) -> list[Reply]:
    """After a citizen added to a ticket waiting for its place: if it now has one, it joins a ticket already
    filed there or opens (process_inbound then sends it to officers), asking about an uncertain category."""
    if ticket.status != "needs_info" or not ticket_located(ticket) \
            or questions.is_open(session, ticket.id, questions.NEARBY):  # asked already whether to support one
        return rows
    return go_on(session, ticket, item, rows)


def go_on(session: Session, ticket: Ticket, item: Item, rows: list[Reply], nearby: bool = True) -> list[Reply]:
    """A ticket waiting for its place goes on (placed, or without its place once the question is dropped): near
    an active ticket of its category, its citizen is asked whether to support that one (their own is joined);
    else (or with `nearby` False: they said no) it opens, asking about an uncertain category once it is placed."""
    if nearby and ticket.category and ticket_located(ticket):
        found = duplicates.locked(session, ticket.category, ticket.lat, ticket.lon, ticket.geocode_source)
        if found is not None and duplicates.is_reporter(session, found[0], item.citizen_id):
            return fold(rows + merge_into(session, ticket, found[0], item))
        if found is not None and ticket.channel not in registry.SILENT:
            # Not certain it is the same problem: the citizen decides (router/nearby.py reads the answer).
            rows = rows + questions.end(session, ticket.id, questions.PLACE, "answered")
            rows[0] = duplicates.offer(session, rows[0], ticket.id, ticket.public_id or "", *found,
                                       item.citizen_id, ticket.language, item.inbound_id)
            return rows
    rows = rows + lifecycle.change(session, ticket, "open", f"citizen:{item.citizen_id}", inbound_id=item.inbound_id)
    waze.attach_nearby(session, [{"id": ticket.id, "category": ticket.category, "lat": ticket.lat, "lon": ticket.lon,
                                  "geocode_source": ticket.geocode_source}])
    if ticket.category and ticket_located(ticket) and (ticket.category_confidence or 0) < 1.0 \
            and _unsure(again := context.classifier().predict([ticket.text])[0], ticket, context.confidence_threshold()):
        # Now that the place is known, the other question: is the category right? (Not for a category the
        # channel gave; the report's own text is read again: this message is only the place.)
        alternatives = tuple(c for c in again.alternatives if c != ticket.category)
        rows[0] = dialogue.confirm(rows[0], ticket.public_id or "", ticket.category, alternatives, ticket.language)
        questions.ask(session, ticket.id, item.citizen_id, item.msg.address.chat_key, questions.CATEGORY, rows[0].key)
    return rows


def _unsure(again: Prediction, ticket: Ticket, threshold: float) -> bool:
    """Whether the category needs the citizen's word: the model is unsure, or its water guard says the report
    may be a flood or a drain (a water report must not be filed elsewhere in silence)."""
    return (ticket.category_confidence or 0) < threshold or (again.needs_confirmation and again.category == ticket.category)


def ticket_located(ticket: Ticket) -> bool:
    """True when officers can find the ticket's place: a point, or at least a kelurahan or kecamatan."""
    return ticket.geocode_source == "point" or bool(ticket.kelurahan_kode or ticket.kecamatan_kode)


def file_reports(session: Session, items: list[Item]) -> list[Reply]:
    """File a ticket for each report (category, place), with its audit event and acknowledgement."""
    if not items:
        return []
    cfg = context.config()
    tax = context.taxonomy()
    places = [message_place(i.msg) for i in items]
    categories = [i.prediction.category if i.prediction.category != "not_report" else None for i in items]
    joined: list[Reply] = []
    new: list[tuple[Item, str | None, Place | None, tuple[Ticket, float] | None]] = []
    for item, category, place in zip(items, categories, places):
        found = duplicates.locked(session, category, place.lat if place else None, place.lon if place else None,
                                  place.source if place else None)
        if found is not None and duplicates.is_reporter(session, found[0], item.citizen_id):
            joined += join(session, found[0], item)  # the citizen's own report again: no question
        else:
            new.append((item, category, place, found))
    if not new:
        return joined
    items, categories, places = [n[0] for n in new], [n[1] for n in new], [n[2] for n in new]
    near = [n[3] for n in new]
    # A report near another of its category waits (needs_info) for its citizen's word: support that one, or file
    # it; a channel nobody can ask (Open311) files it, with the hint.
    asking = [found is not None and i.msg.channel not in registry.SILENT for i, found in zip(items, near)]
    made = ops.create_tickets(session, cfg.ticket_prefix, [
        {"citizen_id": i.citizen_id, "inbound_id": i.inbound_id, "channel": i.msg.channel, "text": i.msg.text,
         "language": i.language, "category": category,
         "category_confidence": round(i.prediction.confidence, 4) if category else None,
         **place_columns(place, i.msg.text), "photo_file_id": photo_of(i.msg),
         "reply_address": i.msg.address.model_dump(mode="json"), "agency": routing.agency_for(category),
         # Officers need a place to go to: without one, the citizen is asked first; a channel nobody can ask
         # (Open311) goes on with what it has.
         "status": "open" if (located(place) and not ask) or i.msg.channel in registry.SILENT else "needs_info"}
        for i, category, place, ask in zip(items, categories, places, asking)
    ])
    ops.add_reporters(session, [
        {"ticket_id": ticket_id, "citizen_id": i.citizen_id, "reply_address": i.msg.address.model_dump(mode="json"),
         "language": i.language} for (ticket_id, _), i in zip(made, items)
    ])
    ops.add_events(session, [
        {"ticket_id": ticket_id, "kind": "created", "actor": f"citizen:{i.citizen_id}", "inbound_id": i.inbound_id,
         "data": {"category": category, "confidence": round(i.prediction.confidence, 4),
                  "category_source": i.prediction.source, "geocode_source": place.source if place else None}}
        for (ticket_id, _), i, category, place in zip(made, items, categories, places)
    ])
    # Weak Waze alerts already there back the new tickets up (router/waze.py files strong ones itself).
    # (Not a report waiting for its citizen's word on the one nearby: it may never be a ticket of its own.)
    waze.attach_nearby(session, [{"id": ticket_id, "category": category, **place_columns(place)}
                                 for (ticket_id, _), category, place, ask in zip(made, categories, places, asking)
                                 if not ask])
    acks = []
    asked: list[tuple[int, int, str, str, str]] = []
    for (ticket_id, public_id), item, category, place, found, ask in zip(made, items, categories, places, near,
                                                                         asking):
        if found is not None and not ask:
            duplicates.hint(session, ticket_id, found[0], found[1], inbound_id=item.inbound_id)
        if item.msg.channel in registry.SILENT:
            continue  # nobody to answer (replies.store would drop the rows anyway)
        if ask and found is not None:
            acks.append(duplicates.offer(session, reply_row(item, "", ticket_id), ticket_id, public_id, found[0],
                                         found[1], item.citizen_id, item.language, item.inbound_id))
            continue
        lang = item.language
        outside = item.msg.location is not None and not located(place) and place is not None \
            and place.source == "outside"
        if not item.msg.text.strip():
            text = render("ack_needs_detail", lang, ticket=public_id)
        else:
            label = tax.label(category, lang) if category else render("category_unknown", lang)
            if category and item.prediction.needs_confirmation:
                label += render("category_unsure", lang)
            where = describe(place, item.msg.text) if place and (place.kelurahan or place.kecamatan or place.kab_kota) else None
            can_share = registry.offers(item.msg.channel, "locations")
            if outside:
                where = render("place_outside", lang)
            elif where and not located(place):  # a kota alone: officers need more, and the citizen is asked for it
                where = render("place_vague" if can_share else "place_vague_text", lang, area=where)
            unknown = "place_unknown" if can_share else "place_unknown_text"
            text = render("ack", lang, ticket=public_id, category=label, place=where or render(unknown, lang),
                          link=links.see_line(public_id, lang))  # HA (issue 20): the public page, when configured
        ack = reply_row(item, text, ticket_id)
        if not located(place):
            if registry.offers(item.msg.channel, "locations"):
                ack = replace(ack, ask_location=render("btn_share_location", lang))
            asked.append((ticket_id, item.citizen_id, item.msg.address.chat_key, questions.PLACE, ack.key))
        elif category and item.prediction.needs_confirmation:
            ack = dialogue.confirm(ack, public_id, category, item.prediction.alternatives, lang)
            asked.append((ticket_id, item.citizen_id, item.msg.address.chat_key, questions.CATEGORY, ack.key))
        acks.append(ack)
    questions.ask_new(session, asked)
    return joined + acks


def merge_into(session: Session, ticket: Ticket, same: Ticket, item: Item, actor: str = "router") -> list[Reply]:
    """A ticket that turns out to duplicate an active one (its citizen supports that one, or it is their own) is
    marked so, and its reporters join that one."""
    # Its questions end with it (their buttons go); no status update: the reply below tells the reporter.
    cleared = lifecycle.change(session, ticket, "duplicate", actor, note=same.public_id, inbound_id=item.inbound_id)
    ticket.duplicate_of_id = same.id
    ops.add_reporters(session, [{"ticket_id": same.id, "citizen_id": r.citizen_id, "reply_address": r.reply_address,
                                 "language": r.language} for r in lifecycle.reporters(session, ticket.id)])
    if same.photo_file_id is None and ticket.photo_file_id is not None:
        same.photo_file_id = ticket.photo_file_id
    ops.add_events(session, [{"ticket_id": same.id, "kind": "merged", "actor": actor, "inbound_id": item.inbound_id,
                              "data": {"ticket": ticket.public_id}}])
    lang = item.language
    label = context.taxonomy().label(same.category, lang)
    return [reply_row(item, render("merged", lang, ticket=same.public_id, category=label,
                                status=status_label(same.status, lang)), same.id)] + cleared


def join(session: Session, ticket: Ticket, item: Item) -> list[Reply]:
    """A report of something already reported: its citizen becomes a reporter of that ticket and is told."""
    ops.add_reporters(session, [{"ticket_id": ticket.id, "citizen_id": item.citizen_id,
                                 "reply_address": item.msg.address.model_dump(mode="json"), "language": item.language}])
    attach(session, ticket, item, "merged")
    lang = item.language
    label = context.taxonomy().label(ticket.category, lang)
    return [reply_row(item, render("merged", lang, ticket=ticket.public_id, category=label,
                                status=status_label(ticket.status, lang)), ticket.id)]


def message_place(msg: Message) -> Place | None:
    """Where a message is, by nlp.place_rules, with this city's boundary margin and Nominatim (when set)."""
    loc = msg.location
    if loc is None:
        return place_of(msg.text, fallback=context.nominatim())
    return place_of(msg.text, loc.lat, loc.lon, loc.accuracy_m, loc.area, loc.title,
                    context.config().boundary_margin_m, context.nominatim())


def place_columns(place: Place | None, said: str | None = None) -> dict[str, Any]:
    """A place as ticket columns; `said` is the citizen's text, whose street (as written) is kept for officers."""
    if place is None:
        return {"lat": None, "lon": None, "place_text": None, "kelurahan_kode": None, "kecamatan_kode": None,
                "kab_kota_kode": None, "geocode_source": None}
    f = place.fields()
    wrote = street_of(said) if said and place.source != "point" else None
    wrote = wrote or f["place_text"] or None
    return {"lat": f["lat"], "lon": f["lon"], "place_text": wrote and wrote[:255],
            "kelurahan_kode": f["kelurahan_kode"], "kecamatan_kode": f["kecamatan_kode"],
            "kab_kota_kode": f["kab_kota_kode"], "geocode_source": place.source}


def describe(place: Place, said: str | None = None) -> str:
    """'Jl. Dermaga — Kel. Cipinang Muara, Kec. Jatinegara, Jakarta Timur' (as far as known); the street is
    the one the citizen's text `said` names."""
    area = place.kelurahan or place.kecamatan or place.kab_kota
    names = gazetteer().name_of(area.kode) if area else ""
    wrote = (street_of(said) if said and place.source != "point" else None) or place.place_text
    return " — ".join(p for p in (cards.street(wrote, names), names) if p)


def photo_of(msg: Message) -> str | None:
    """The message's first photo as a reference that names the channel (and bot) holding it."""
    photo = next((m for m in msg.media if m.kind == "photo"), msg.media[0] if msg.media else None)
    return str(MediaRef.of(msg.channel, photo.file_id, msg.address.bot)) if photo else None


def reply_row(item: Item, text: str, ticket_id: int | None = None) -> Reply:
    """The reply to `item` (one per message: its key names the message)."""
    return Reply(item.msg.address, text, f"reply:{item.inbound_id}", ticket_id, item.inbound_id)


def attach(session: Session, ticket: Ticket, item: Item, kind: str) -> None:
    """Add what a reporter's message carries (words, photo, a place better than the ticket's) to the ticket,
    with its audit event."""
    msg = item.msg
    data = {"text": msg.text or None, "photo": photo_of(msg),
            "lat": msg.location.lat if msg.location else None, "lon": msg.location.lon if msg.location else None}
    loc, margin = msg.location, context.config().boundary_margin_m
    shared = reverse_place(loc.lat, loc.lon, near_m=margin) if loc and precise(loc.area, loc.accuracy_m) else None
    if shared is not None and shared.kelurahan is not None and (ticket.lat is None or ticket.geocode_source != "point"):
        # A shared point in the city is better than a place named in text: it replaces it (the street the
        # report named, if any, stays for the officers; an area it named does not). One outside the city
        # replaces nothing.
        for column, value in place_columns(shared).items():
            setattr(ticket, column, street_of(ticket.text) if column == "place_text" else value)
    elif loc and not precise(loc.area, loc.accuracy_m) and not (ticket.kelurahan_kode or ticket.kecamatan_kode):
        # An area is better than nothing, as far as it goes.
        area = vague(loc.lat, loc.lon, loc.accuracy_m or 0, loc.title, margin)
        if area is not None:
            for column, value in place_columns(area).items():
                setattr(ticket, column, value)
    if msg.media and ticket.photo_file_id is None:
        ticket.photo_file_id = photo_of(msg)
    ticket.updated_at = utcnow()
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": kind, "actor": f"citizen:{item.citizen_id}",
                              "data": data, "inbound_id": item.inbound_id}])
