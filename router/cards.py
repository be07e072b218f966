"""Officers' cards: what a ticket looks like to the officers who act on it (category, place in words, map link,
sources, text, the citizen's photo, buttons), and the bot that sends it. Dispatch, SLA escalation and reopening
all send the same card."""
from __future__ import annotations

from sqlalchemy.orm import Session, object_session

from bots import registry
from ingest.message import Address
from nlp.gazetteer import gazetteer
from router import context
from router.outcome import Button, Reply
from router.templates import render
from store import ops
from store.models import Officer, Ticket


def officer_bot(ticket: Ticket) -> str | None:
    """The Telegram bot whose chats officers work in: the configured bot, else the one the ticket came by.
    A card must come from the bot officers reply to, or their replies would not find it."""
    if context.config().telegram_bot:
        return context.config().telegram_bot
    return ticket.reply_address.get("bot") if ticket.reply_address.get("channel") == "telegram" else None


def officer_address(officer: Officer, ticket: Ticket) -> Address | None:
    """Where an officer's cards go: their first identity on a channel that carries officers (None: nowhere)."""
    for identity in officer.identities:
        if registry.offers(identity.channel, "officers"):
            bot = officer_bot(ticket) if identity.channel == "telegram" else None
            return Address(channel=identity.channel, chat_id=identity.user_id, bot=bot)
    return None


def group_address(chat_id: str, ticket: Ticket) -> Address:
    """A unit's, an agency's or the triage group chat (routing.*.telegram_chat_id: Telegram groups)."""
    return Address(channel="telegram", chat_id=chat_id, bot=officer_bot(ticket))


def card(ticket: Ticket, to: Address, language: str = "id", prefix: str = "", key: str = "") -> Reply:
    """The card an officer acts on: category, place, text, map link, the citizen's photo, buttons."""
    tax = context.taxonomy()
    place = place_words(ticket, language)
    link = (f"https://www.openstreetmap.org/?mlat={ticket.lat:.5f}&mlon={ticket.lon:.5f}#map=18/{ticket.lat:.5f}/"
            f"{ticket.lon:.5f}") if ticket.lat is not None and ticket.lon is not None else "-"
    category = tax.label(ticket.category, language) if ticket.category else render("category_unknown", language)
    text = prefix + render("card", language, ticket=ticket.public_id, category=category,
                           place=place, map=link, sources=sources(ticket, language), text=ticket.text[:2000])
    pid = ticket.public_id
    buttons = ((Button(render("btn_take", language), f"/ambil {pid}"),
                Button(render("btn_progress", language), f"/proses {pid}")),
               (Button(render("btn_done", language), f"/selesai {pid}"),
                Button(render("btn_reject", language), f"/tolak {pid}")))
    # Whether the officer's channel can show it is decided as it is sent (router/replies.py: MediaRef).
    photo = ticket.photo_file_id
    # One card per ticket, chat and moment (`key` tells apart cards sent in the same change).
    return Reply(to, text, f"card:{ticket.id}:{to.chat_key}:{ticket.updated_at.isoformat()}{key}", ticket.id,
                 photo=photo or None, buttons=buttons, card=True)


def place_words(ticket: Ticket, language: str = "id") -> str:
    """Where a ticket is, for officers and its reporters: the street the citizen wrote and the areas by name
    ("Jl. Dermaga — Kel. Klender, Kec. Duren Sawit, Jakarta Timur"; "lokasi belum jelas" without an area)."""
    names = gazetteer().name_of(ticket.kelurahan_kode, ticket.kecamatan_kode, ticket.kab_kota_kode)
    wrote = street(ticket.place_text, names)
    if not names:
        return f"{wrote} ({render('place_unclear', language)})" if wrote else render("place_unclear", language)
    return f"{wrote} — {names}" if wrote else names


def street(place_text: str | None, names: str) -> str | None:
    """What the citizen wrote of the place, when it says more than the area's own name."""
    if not place_text or place_text.strip().lower() in names.lower():
        return None
    return place_text.strip()


def sources(ticket: Ticket, language: str) -> str:
    """"2 warga (telegram, email) · Waze: 1 laporan pengemudi (skor 17/25)": who backs the ticket up."""
    session = object_session(ticket)
    if session is None:
        return "-"
    found = ops.ticket_sources(session, ticket.id)
    parts = []
    if found["reporters"]:
        parts.append(render("source_citizens", language, count=sum(found["reporters"].values()),
                            channels=", ".join(sorted(found["reporters"]))))
    if found["waze"]:
        parts.append(render("source_waze", language, count=len(found["waze"]),
                            score=max(a["score"] for a in found["waze"])))
    return " · ".join(parts) or "-"


def tell(session: Session, ticket: Ticket, text: str, key: str) -> list[Reply]:
    """Tell every chat that holds the ticket's card (its officer, the unit's chat) `text`, threaded under that
    card; replying to it acts on the ticket like the card. `key` names the event (one message each)."""
    told = []
    for sent in ops.card_chats(session, ticket.id):
        to = Address(**{**sent.address, "reply_to": sent.provider_message_id, "callback_id": None})
        told.append(Reply(to, text, f"told:{ticket.id}:{sent.chat_key}:{key}:{ticket.updated_at.isoformat()}",
                          ticket.id, card=True))
    return told
