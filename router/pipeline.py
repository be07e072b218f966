"""The pipeline job: stored messages become tickets (or command answers) and queued replies."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from bots import registry
from ingest.message import Message
from nlp.classify import Prediction
from nlp.geocode import Place, reverse_place, text_place
from nlp.lang import detect
from nlp.rules import Taxonomy, taxonomy
from router import commands, context, crop, dialogue, duplicates, lifecycle, replies, routing, sla, waze
from router.templates import render, status_label
from store import db, ops
from store.models import Ticket, utcnow

log = logging.getLogger(__name__)
# A message the model calls "not a report" gets no ticket only when it is this sure: a report wrongly
# dropped is worse than a greeting filed as a ticket (the classifier is still below its targets).
NOT_REPORT_SURE = 0.9


@dataclass(frozen=True)
class Item:
    """One claimed message with what every step needs to know of it."""

    inbound_id: int
    msg: Message
    citizen_id: int
    language: str
    prediction: Prediction


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
        # Feed alerts have no citizen and need no classifier: the feed says what and where.
        # In alert order, so two feed jobs lock alerts in the same order (they may still meet on a ticket; a
        # deadlock then fails one job, which RQ retries).
        feed = sorted(((i, m) for i, m in messages if m.channel == waze.CHANNEL), key=lambda im: im[1].address.chat_id)
        messages = [(i, m) for i, m in messages if m.channel != waze.CHANNEL]
        filed, feed_rows, feed_failed = _handle_feed(session, feed)
        citizens = ops.upsert_citizens(session, [
            {"channel": m.channel, "external_id": m.sender.id, "display_name": m.sender.name,
             "username": m.sender.username, "language": m.language_hint} for _, m in messages
        ])
        predictions = [_given(m, p) for (_, m), p in zip(messages, context.classifier().predict([m.text for _, m in messages]))]
        items = [Item(i, m, citizens[(m.channel, m.sender.id)], detect(m.text, m.language_hint), p)
                 for (i, m), p in zip(messages, predictions)]
        rows, failed, moved = _handle_all(session, items)
        rows += feed_rows
        failed += feed_failed
        # Tickets these messages filed or completed go to officers now, in this transaction: their cards
        # are outbox rows like any reply (dispatch_open leaves alone tickets that are not open).
        touched = sorted({row["ticket_id"] for row in rows if row["ticket_id"]} | filed)
        try:
            with session.begin_nested():
                cards, _ = crop.dispatch_open(session, touched)
        except Exception:  # the reports stay filed and open: the sweep sends them to officers later
            log.exception("pipeline: sending %d ticket(s) to officers failed; the sweep will retry", len(touched))
            cards = []
        # Reports are filed before the rest: put replies back in the order the messages came.
        outbox_ids = replies.store(session, sorted(rows, key=lambda row: row["inbound_id"] or 0) + cards)
    replies.enqueue_send(outbox_ids)
    # A ticket that reached officers, or that someone moved, gets its next SLA check.
    sla.schedule(sorted(moved | {row["ticket_id"] for row in cards if row["ticket_id"]}))
    return {"handled": len(items) + len(feed) - failed, "failed": failed, "replies": len(outbox_ids)}


def _given(msg: Message, predicted: Prediction) -> Prediction:
    """The category the channel gave (an Open311 service_code), when the taxonomy has it; else the model's."""
    if msg.category and msg.category != "not_report" and msg.category in taxonomy(context.config().categories_file).categories:
        return Prediction(msg.category, 1.0, False, "channel")
    return predicted


def _handle_feed(session: Session, feed: list[tuple[int, Message]]) -> tuple[set[int], list[dict[str, Any]], int]:
    """Waze alerts, each in its own savepoint; → (tickets filed, outbox rows, messages failed)."""
    filed: set[int] = set()
    rows: list[dict[str, Any]] = []
    failed = 0
    for inbound_id, msg in feed:
        try:
            with session.begin_nested():
                made, out = waze.handle(session, inbound_id, msg)
            filed |= made
            rows += out
        except Exception as exc:
            if db.is_transient(exc):
                raise  # a deadlock or a lock wait: the whole job is retried (RQ Retry), nothing is lost  # one bad alert must not hold up the batch
            log.exception("pipeline: waze message %d failed", inbound_id)
            ops.fail_inbound(session, inbound_id, f"{type(exc).__name__}: {exc}")
            failed += 1
    return filed, rows, failed


def _handle_all(session: Session, items: list[Item]) -> tuple[list[dict[str, Any]], int, set[int]]:
    """Plain new reports are filed together (the common case, in a few statements); the rest one by one.
    → (reply rows, messages failed, tickets the rest may have moved)."""
    tax = taxonomy(context.config().categories_file)
    plain: list[Item] = []
    rest: list[Item] = []
    for item in items:  # one pass: comparing Items (whole messages) for membership would cost O(n²)
        (plain if _is_plain_report(item, tax) else rest).append(item)
    rows: list[dict[str, Any]] = []
    try:
        with session.begin_nested():
            rows += file_reports(session, plain)
    except Exception:
        log.exception("pipeline: filing %d reports together failed; filing them one by one", len(plain))
        rest = plain + rest
    failed = 0
    moved: set[int] = set()
    for item in rest:
        try:
            with session.begin_nested():
                handled = handle(session, item)
                rows += handled
                moved |= {row["ticket_id"] for row in handled if row["ticket_id"]}
        except Exception as exc:
            if db.is_transient(exc):
                raise  # a deadlock or a lock wait: the whole job is retried (RQ Retry), nothing is lost  # one bad message must not hold up the batch
            log.exception("pipeline: message %d failed", item.inbound_id)
            ops.fail_inbound(session, item.inbound_id, f"{type(exc).__name__}: {exc}")
            failed += 1
    return rows, failed, moved


def _is_plain_report(item: Item, tax: Taxonomy) -> bool:
    msg = item.msg
    return (not msg.command and not msg.reply_to and bool(msg.text.strip()) and not dialogue.is_number(msg.text)
            and not crop.is_bare_answer(msg) and not _small_talk(item, tax))


def _small_talk(item: Item, tax: Taxonomy) -> bool:
    """Greetings, thanks, questions, news: no photo or location, and clearly not a report."""
    if item.msg.location or item.msg.media or item.msg.category:
        return False  # a channel that names the category (Open311) files a report, whatever its words
    p = item.prediction
    return tax.is_chit_chat(item.msg.text) or (p.category == "not_report" and p.confidence >= NOT_REPORT_SURE)


def handle(session: Session, item: Item) -> list[dict[str, Any]]:
    """Act on one message of any kind; return the reply rows it produces."""
    if dialogue.is_number(item.msg.text):
        item = replace(item, msg=dialogue.resolve_number(session, item.msg))
    msg, language = item.msg, item.language
    cfg = context.config()
    if msg.command == dialogue.CHOOSE:
        return dialogue.choose_category(session, msg, item.inbound_id, item.citizen_id, language)
    if msg.command or msg.reply_to or crop.is_bare_answer(msg):
        answered = _crop_message(session, item)
        if answered is not None:
            return answered
    if msg.command:
        return [_reply(item, commands.answer(session, msg, item.citizen_id, language))]
    if msg.reply_to:
        ticket = ops.ticket_for_reply(session, msg.address.chat_key, msg.reply_to)
        # Only a reporter adds to a ticket (in a group chat, anyone can reply to anything).
        if ticket is not None and item.citizen_id in {r.citizen_id for r in lifecycle.reporters(session, ticket.id)}:
            if ticket.status == "needs_info" and msg.text.strip():
                # The answer to "where?": the address or kelurahan it names becomes the ticket's place.
                _set_place(ticket, text_place(msg.text))
            _attach(session, ticket, item, "citizen_comment")
            rows = [_reply(item, render("comment", ticket.language, ticket=ticket.public_id), ticket.id)]
            return _completed(session, ticket, item, rows)
    if not msg.text.strip() and (msg.location or msg.media):
        since = utcnow() - timedelta(minutes=cfg.attach_window_minutes)
        ticket = ops.recent_open_ticket(session, item.citizen_id, since)
        if ticket is not None:
            _attach(session, ticket, item, "citizen_attachment")
            what = "what_both" if msg.location and msg.media else "what_location" if msg.location else "what_photo"
            rows = [_reply(item, render("attached", ticket.language, what=render(what, ticket.language),
                                        ticket=ticket.public_id), ticket.id)]
            return _completed(session, ticket, item, rows)
    if _small_talk(item, taxonomy(cfg.categories_file)):
        return [_reply(item, render("chit_chat", language))]
    return file_reports(session, [item])


def _set_place(ticket: Ticket, place: Place | None) -> None:
    """Give a ticket waiting for its place the place a citizen's answer names (when it names one)."""
    if _located(place):
        for column, value in _place_columns(place).items():
            setattr(ticket, column, value)


def _completed(session: Session, ticket: Ticket, item: Item, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """After a citizen added to a ticket waiting for its place: if it now has one, it joins a ticket already
    filed there or opens (process_inbound then sends it to officers), asking about an uncertain category."""
    cfg = context.config()
    located = ticket.geocode_source == "point" or ticket.kelurahan_kode or ticket.kecamatan_kode
    if ticket.status != "needs_info" or not located or not ticket.category:
        return rows
    same = duplicates.find(session, ticket.category, ticket.lat, ticket.lon, ticket.geocode_source)
    if same is not None:
        session.refresh(same, with_for_update=True)  # a feed may be closing it this moment (router/waze.py)
    if same is not None and same.status in duplicates.JOINABLE:
        return _merge_into(session, ticket, same, item)
    rows += lifecycle.change(session, ticket, "open", f"citizen:{item.citizen_id}", inbound_id=item.inbound_id)
    waze.attach_nearby(session, [{"id": ticket.id, "category": ticket.category, "lat": ticket.lat, "lon": ticket.lon,
                                  "geocode_source": ticket.geocode_source}])
    if (ticket.category_confidence or 0) < cfg.confidence_threshold:
        # Now that the place is known, the other question: is the category right?
        [again] = context.classifier().predict([ticket.text])  # this message is only the place
        alternatives = tuple(c for c in again.alternatives if c != ticket.category)
        rows[0]["text"] += render("category_question", ticket.language)
        rows[0]["extras"] = dialogue.confirm_extras(ticket.public_id, ticket.category, alternatives, ticket.language)
    return rows


def _crop_message(session: Session, item: Item) -> list[dict[str, Any]] | None:
    """An officer acting on a ticket, or a reporter confirming a fix; None for anything else."""
    msg = item.msg
    replied = ops.outbox_for_reply(session, msg.address.chat_key, msg.reply_to) if msg.reply_to else None
    on_card = replied is not None and bool((replied.extras or {}).get("card"))
    action = crop.officer_action(msg)
    if action is not None and (on_card or msg.command in crop.OFFICER_COMMANDS):
        return crop.handle_officer(session, msg, item.inbound_id, action, replied, item.language)
    if on_card:
        log.info("pipeline: a reply to a card that names no action (message %d); ignored", item.inbound_id)
        return []
    answer = crop.citizen_answer(msg)
    if answer is not None:
        return crop.handle_citizen_answer(session, msg, item.inbound_id, item.citizen_id, answer, replied,
                                          item.language)
    return None


def file_reports(session: Session, items: list[Item]) -> list[dict[str, Any]]:
    """File a ticket for each report (category, place), with its audit event and acknowledgement."""
    if not items:
        return []
    cfg = context.config()
    tax = taxonomy(cfg.categories_file)
    places = [_place(i.msg) for i in items]
    categories = [i.prediction.category if i.prediction.category != "not_report" else None for i in items]
    joined: list[dict[str, Any]] = []
    new = []
    for item, category, place in zip(items, categories, places):
        existing = duplicates.find(session, category, place.lat if place else None, place.lon if place else None,
                                   place.source if place else None)
        if existing is not None:
            # Locked and looked at again: a feed may be closing it this moment (router/waze.py locks it too).
            session.refresh(existing, with_for_update=True)
            if existing.status not in duplicates.JOINABLE:
                existing = None
        if existing is None:
            new.append((item, category, place))
        else:
            joined += _join(session, existing, item)
    if not new:
        return joined
    items, categories, places = (list(x) for x in zip(*new))  # type: ignore[assignment]
    made = ops.create_tickets(session, cfg.ticket_prefix, [
        {"citizen_id": i.citizen_id, "inbound_id": i.inbound_id, "channel": i.msg.channel, "text": i.msg.text,
         "language": i.language, "category": category,
         "category_confidence": round(i.prediction.confidence, 4) if category else None,
         **_place_columns(place), "photo_file_id": i.msg.media[0].file_id if i.msg.media else None,
         "reply_address": i.msg.address.model_dump(mode="json"), "agency": routing.agency_for(category),
         # Officers need a place to go to: without one, the citizen is asked first.
         "status": "open" if _located(place) else "needs_info"}
        for i, category, place in zip(items, categories, places)
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
    waze.attach_nearby(session, [{"id": ticket_id, "category": category, **_place_columns(place)}
                                 for (ticket_id, _), category, place in zip(made, categories, places)])
    rows = []
    for (ticket_id, public_id), item, category, place in zip(made, items, categories, places):
        lang = item.language
        if not item.msg.text.strip():
            text = render("ack_needs_detail", lang, ticket=public_id)
        else:
            label = tax.label(category, lang) if category else render("category_unknown", lang)
            if category and item.prediction.needs_confirmation:
                label += render("category_unsure", lang)
            where = _describe(place) if place and (place.kelurahan or place.kecamatan or place.kab_kota) else None
            unknown = "place_unknown" if registry.offers(item.msg.channel, "locations") else "place_unknown_text"
            text = render("ack", lang, ticket=public_id, category=label, place=where or render(unknown, lang))
        ask = None if _located(place) else {"ask_location": render("btn_share_location", lang)}
        if ask is None and category and item.prediction.needs_confirmation:
            text += render("category_question", lang)
            ask = dialogue.confirm_extras(public_id, category, item.prediction.alternatives, lang)
        rows.append(_reply(item, text, ticket_id, ask))
    return joined + rows


def _merge_into(session: Session, ticket: Ticket, same: Ticket, item: Item) -> list[dict[str, Any]]:
    """A ticket that turns out to duplicate an active one (once its place is known) is marked so, and its
    reporters join that one."""
    lifecycle.change(session, ticket, "duplicate", "router", note=same.public_id, inbound_id=item.inbound_id)
    ticket.duplicate_of_id = same.id
    ops.add_reporters(session, [{"ticket_id": same.id, "citizen_id": r.citizen_id, "reply_address": r.reply_address,
                                 "language": r.language} for r in lifecycle.reporters(session, ticket.id)])
    if same.photo_file_id is None and ticket.photo_file_id is not None:
        same.photo_file_id = ticket.photo_file_id
    ops.add_events(session, [{"ticket_id": same.id, "kind": "merged", "actor": "router", "inbound_id": item.inbound_id,
                              "data": {"ticket": ticket.public_id}}])
    lang = item.language
    label = taxonomy(context.config().categories_file).label(same.category, lang)
    return [_reply(item, render("merged", lang, ticket=same.public_id, category=label,
                                status=status_label(same.status, lang)), same.id)]


def _join(session: Session, ticket: Ticket, item: Item) -> list[dict[str, Any]]:
    """A report of something already reported: its citizen becomes a reporter of that ticket and is told."""
    ops.add_reporters(session, [{"ticket_id": ticket.id, "citizen_id": item.citizen_id,
                                 "reply_address": item.msg.address.model_dump(mode="json"), "language": item.language}])
    _attach(session, ticket, item, "merged")
    lang = item.language
    label = taxonomy(context.config().categories_file).label(ticket.category, lang)
    return [_reply(item, render("merged", lang, ticket=ticket.public_id, category=label,
                                status=status_label(ticket.status, lang)), ticket.id)]


# An area's centre (a tweet's tagged place) is not a point: what the text names comes first, and the
# area alone gives only what its size allows: its kecamatan when it is this small, else its kota.
# (An area this small, a tweet's point of interest, counts as a point.)
POINT_M = 500
KECAMATAN_M = 2_000
KOTA_M = 10_000


def _precise(msg: Message) -> bool:
    loc = msg.location
    return loc is not None and (not loc.area or (loc.accuracy_m or 0) <= POINT_M)


def _place(msg: Message) -> Place | None:
    """Where a message is: its shared point if any, else the place its text names (street via Nominatim if set),
    else the areas a vague location allows."""
    if msg.location and _precise(msg):
        return reverse_place(msg.location.lat, msg.location.lon)
    named = text_place(msg.text) if msg.text else None
    fallback = context.nominatim()
    if fallback and msg.text:
        named = fallback.refine(msg.text, named)
    if named is None and msg.location:
        return _vague(msg.location.lat, msg.location.lon, msg.location.accuracy_m or 0, msg.location.title)
    return named


def _vague(lat: float, lon: float, accuracy_m: float, title: str | None) -> Place | None:
    """The kecamatan or kota around the centre of a vague location, when it is small enough to tell."""
    at = reverse_place(lat, lon)
    if accuracy_m > KOTA_M or at.kab_kota is None:
        return None
    return replace(at, kelurahan=None, kecamatan=at.kecamatan if accuracy_m <= KECAMATAN_M else None,
                   source="place", place_text=title, distance_m=accuracy_m)


def _place_columns(place: Place | None) -> dict[str, Any]:
    if place is None:
        return {"lat": None, "lon": None, "place_text": None, "kelurahan_kode": None, "kecamatan_kode": None,
                "kab_kota_kode": None, "geocode_source": None}
    f = place.fields()
    return {"lat": f["lat"], "lon": f["lon"], "place_text": (f["place_text"] or None) and f["place_text"][:255],
            "kelurahan_kode": f["kelurahan_kode"], "kecamatan_kode": f["kecamatan_kode"],
            "kab_kota_kode": f["kab_kota_kode"], "geocode_source": place.source}


def _describe(place: Place) -> str:
    """'Kel. Cipinang Muara, Kec. Jatinegara, Kota Administrasi Jakarta Timur' (as far as known)."""
    parts = []
    if place.kelurahan:
        parts.append(f"Kel. {place.kelurahan.nama}")
    if place.kecamatan:
        parts.append(f"Kec. {place.kecamatan.nama}")
    if place.kab_kota:
        parts.append(place.kab_kota.nama)
    return ", ".join(parts)


def _located(place: Place | None) -> bool:
    """True when officers can find the place: a point, or at least a kelurahan or kecamatan."""
    return place is not None and (place.source == "point" or place.kelurahan is not None or place.kecamatan is not None)


def _reply(item: Item, text: str, ticket_id: int | None = None, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    return replies.reply(item.msg.address, text, f"reply:{item.inbound_id}", ticket_id, item.inbound_id, extras)


def _attach(session: Session, ticket: Ticket, item: Item, kind: str) -> None:
    msg = item.msg
    data = {"text": msg.text or None, "photo": msg.media[0].file_id if msg.media else None,
            "lat": msg.location.lat if msg.location else None, "lon": msg.location.lon if msg.location else None}
    if msg.location and _precise(msg) and (ticket.lat is None or ticket.geocode_source != "point"):
        # A shared point is better than a place named in text: it replaces it.
        for column, value in _place_columns(reverse_place(msg.location.lat, msg.location.lon)).items():
            if column != "place_text":
                setattr(ticket, column, value)
    elif msg.location and not _precise(msg) and not (ticket.kelurahan_kode or ticket.kecamatan_kode):
        # An area is better than nothing, as far as it goes.
        area = _vague(msg.location.lat, msg.location.lon, msg.location.accuracy_m or 0, msg.location.title)
        if area is not None:
            for column, value in _place_columns(area).items():
                setattr(ticket, column, value)
    if msg.media and ticket.photo_file_id is None:
        ticket.photo_file_id = msg.media[0].file_id
    ticket.updated_at = utcnow()
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": kind, "actor": f"citizen:{item.citizen_id}",
                              "data": data, "inbound_id": item.inbound_id}])
