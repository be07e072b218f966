"""SQLAlchemy 2 models: inbound messages, citizens, tickets, ticket events, outbox, cursors, Waze alerts, and
the dashboard's accounts and sessions, uploaded photos."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    """Declarative base for crophub's tables."""

    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class InboundMessage(Base):
    """Every payload a channel received, kept raw; unique per channel + idempotency key."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "key", name="uq_inbound_channel_key"),
        Index("ix_inbound_status_received", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    # received → processed | failed (its own fault, or dead-lettered after workers.max_attempts tries);
    # failed → dropped or received again (`crophub failed drop|retry`); ignored and rejected are final on arrival.
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    message: Mapped[dict[str, Any] | None]
    raw: Mapped[dict[str, Any] | None]
    # The payload as it came, as ASCII JSON, when it had to be cleaned to be stored (store/storable.py).
    raw_text: Mapped[str | None] = mapped_column(Text)
    # Tries that did not finish (a job that failed or was lost): at workers.max_attempts the sweep gives up.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class Citizen(Base):
    """One person as one channel knows them (private: never in public views)."""

    __tablename__ = "citizens"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_citizen_channel_external"),
                      UniqueConstraint("public_alias", name="uq_citizens_public_alias"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The handle the public page may show among the top reporters: None (the default) until the citizen opts in
    # with `/publik nama <alias>`; `/publik hapus` sets it back (router/aliases.py).
    public_alias: Mapped[str | None] = mapped_column(String(32))


class Ticket(Base):
    """A report filed for CROP: what, where, its status, and where to reply."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_citizen_created", "citizen_id", "created_at"),
        Index("ix_tickets_status_category", "status", "category"),
        Index("ix_tickets_category_lat", "category", "lat"),  # the duplicate search: a category near a point
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    public_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"))  # None: filed from a feed (Waze)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    channel: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    category_confidence: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="id")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    place_text: Mapped[str | None] = mapped_column(String(255))
    kelurahan_kode: Mapped[str | None] = mapped_column(String(16))
    kecamatan_kode: Mapped[str | None] = mapped_column(String(16))
    kab_kota_kode: Mapped[str | None] = mapped_column(String(16))
    geocode_source: Mapped[str | None] = mapped_column(String(32))
    photo_file_id: Mapped[str | None] = mapped_column(String(255))  # a store.media.MediaRef's text
    reply_address: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="open")  # see router/lifecycle.py
    agency: Mapped[str | None] = mapped_column(String(32))  # an agency's code, or a utility's (router/handoff.py)
    # The kelurahan or kecamatan a handoff gave the ticket to (router/handoff.py): routing reads it instead of the
    # place's areas; the place itself stays as reported.
    holder_area: Mapped[str | None] = mapped_column(String(16))
    assigned_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id", name="fk_tickets_officer"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", name="fk_tickets_duplicate_of"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolution_photo_file_id: Mapped[str | None] = mapped_column(String(255))  # a store.media.MediaRef's text
    closed_at: Mapped[datetime | None]
    # The SLA clock (router/timers.py): started when officers get the ticket, paused while it waits for the
    # citizen; sla_level counts the escalation steps taken.
    sla_started_at: Mapped[datetime | None]
    sla_paused_at: Mapped[datetime | None]
    sla_paused_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    sla_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TicketReporter(Base):
    """Everyone who reported a ticket (the filer and the reports it absorbed), told of every change."""

    __tablename__ = "ticket_reporters"
    __table_args__ = (Index("ix_ticket_reporters_citizen", "citizen_id"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), primary_key=True)
    reply_address: Mapped[dict[str, Any]]
    language: Mapped[str] = mapped_column(String(8))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class Question(Base):
    """A question the hub asked in a chat and waits for (router/questions.py): where?, which category?, is it
    fixed?. The chat's next message is read as its answer first; it ends answered, dropped (asked twice and
    left), outdated (the ticket moved on) or expired."""

    __tablename__ = "questions"
    __table_args__ = (Index("ix_questions_chat_status", "chat_key", "status", "id"),
                      Index("ix_questions_ticket", "ticket_id"),
                      Index("ix_questions_status_expires", "status", "expires_at"))  # the sweep's expiry search

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    chat_key: Mapped[str] = mapped_column(String(255))
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id", name="fk_questions_citizen"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", name="fk_questions_ticket"))
    kind: Mapped[str] = mapped_column(String(16))  # place | category | fixed | nearby (support the report nearby?)
    asked: Mapped[int] = mapped_column(Integer, default=1)  # times asked (once more at most, with an example)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | dropped | outdated | expired
    # The outbox rows that asked it (their dedupe keys): their buttons are removed once it ends.
    asked_in: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class Officer(Base):
    """A petugas, lurah, camat or agency member who acts on tickets from a chat channel that carries officers."""

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    areas: Mapped[list[str]] = mapped_column(JSON)  # kota, kecamatan or kelurahan codes
    agencies: Mapped[list[str]] = mapped_column(JSON)  # agency codes from routing.agencies
    source: Mapped[str] = mapped_column(String(8))  # "config" (routing.officers) | "cli" (crophub officer add)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # In the officer's order of preference: cards and reminders go to the first one on a channel that is on.
    # Loaded with the officer (one query for a whole roster), since routing reads them for every officer.
    identities: Mapped[list["OfficerIdentity"]] = relationship(
        order_by="OfficerIdentity.position", cascade="all, delete-orphan", lazy="selectin")

    def identity(self, channel: str) -> str | None:
        """The officer's user id on `channel`, if they have one there."""
        return next((i.user_id for i in self.identities if i.channel == channel), None)

    def handles(self) -> str:
        """Their identities as people type them: "telegram:42, email:budi@jakarta.go.id"."""
        return ", ".join(f"{i.channel}:{i.user_id}" for i in self.identities)


class OfficerPosition(Base):
    """An officer's last position from a live location they share in chat (Telegram), until `live_until`: shown
    to supervisors on the officers' map while it lasts, never publicly."""

    __tablename__ = "officer_positions"

    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", name="fk_officer_positions_officer"),
                                            primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime]  # when the officer was there (the update's time): a later update wins, an older one is dropped
    # When the sharing ends: the live period's end, or the moment the officer stopped it (then it is over).
    live_until: Mapped[datetime]


class OfficerIdentity(Base):
    """Who an officer is on one channel (the sender id their messages carry there)."""

    __tablename__ = "officer_identities"
    __table_args__ = (UniqueConstraint("channel", "user_id", name="uq_officer_identity"),
                      Index("ix_officer_identities_officer", "officer_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", name="fk_officer_identities_officer"))
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer)


class TicketEvent(Base):
    """The audit trail: every change to a ticket, who made it, and what it carried."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    data: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Outbox(Base):
    """An outbound reply: stored first, then sent by a job; unique per event it answers."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_chat_status", "chat_key", "status", "id"),
                      Index("ix_outbox_channel_provider_id", "channel", "provider_message_id"))  # receipts find it

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_key: Mapped[str] = mapped_column(String(255))
    address: Mapped[dict[str, Any]]
    text: Mapped[str] = mapped_column(Text)
    # What a channel shows beside the text, as plain data: {"photo": file id, "buttons": [[{"label",
    # "value"}]], "ask_location": label}; a channel without buttons gets a numbered menu in the text.
    # Marks for the router: "card" (replies to it act on its ticket), "menu" (a bare number answers it).
    # "toast": a short notice on the pressed button; "clear_buttons_of": the dedupe key of an earlier reply
    # whose buttons go (the sender gets its message id as "clear_buttons"); an empty text sends no message.
    extras: Mapped[dict[str, Any] | None]
    # pending → sent | failed | held (outside its channel's answer window: pending again when the citizen writes,
    # router/window.py); failed → dropped (`crophub failed drop`), or pending again (`crophub failed retry`)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The channel's id of the sent message (Messenger's run to about 90 characters).
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)  # last send attempt (or creation)
    # Nobody sends it before then: its next try after an error, the end of a long 429, or a sender's lease
    # while it is being sent (router/replies.py).
    not_before: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # What the channel reported afterwards (WhatsApp status callbacks): reached the phone, read. A delivery
    # failure it reports turns a sent reply into a failed one, with the channel's reason.
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]


class Cursor(Base):
    """A listener's resume point, e.g. a Telegram bot's next getUpdates offset."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WazeAlert(Base):
    """A Waze alert or jam as the feed last showed it, and the ticket it filed or joined (if any).

    The poller (ingest/waze) keeps these rows; the router (router/waze.py) acts on them when an inbound
    message names one: a new alert, an update, or its disappearance."""

    __tablename__ = "waze_alerts"
    __table_args__ = (Index("ix_waze_alerts_status", "status", "last_seen_at"), Index("ix_waze_alerts_ticket", "ticket_id"))

    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # alert uuid; jams "jam:<uuid>"
    kind: Mapped[str] = mapped_column(String(8))  # alert | jam
    kind_key: Mapped[str] = mapped_column(String(64))  # subtype, else type; jams JAM_LEVEL_<n>
    category: Mapped[str] = mapped_column(String(32))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    street: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[int] = mapped_column(Integer, default=0)  # corroboration, 0–25 (ingest/waze/parse.py)
    corroborated: Mapped[bool] = mapped_column(Boolean, default=False)  # score ≥ the configured minimum
    data: Mapped[dict[str, Any] | None]  # reliability, confidence, thumbs-up, jam level/delay/length
    status: Mapped[str] = mapped_column(String(8), default="active")  # active | gone
    misses: Mapped[int] = mapped_column(Integer, default=0)  # consecutive feed snapshots without it
    version: Mapped[int] = mapped_column(Integer, default=1)  # +1 on every change worth telling the router
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", name="fk_waze_alerts_ticket"))
    published_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    gone_at: Mapped[datetime | None]


class WebAccount(Base):
    """An officer's login to the dashboard (what they may do follows their officer row: role, areas, agencies)."""

    __tablename__ = "web_accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, with its parameters and salt
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", name="fk_web_accounts_officer"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class WebSession(Base):
    """A logged-in browser: the cookie holds a random token, this table only its hash."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_account", "account_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("web_accounts.id", name="fk_web_sessions_account"))
    csrf_token: Mapped[str] = mapped_column(String(64))  # every form of this session carries it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class MediaBlob(Base):
    """A photo uploaded to crophub itself (web chat, the dashboard), kept by the SHA-256 of its bytes."""

    __tablename__ = "media"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    mime_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Example(Base):
    """A labelled example learnt from use: a report's text (personal data masked) and the category a citizen
    confirmed or picked, or an officer set; no chat ids, names or phones (store/examples.py writes them)."""

    __tablename__ = "examples"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(24))  # citizen_confirmed | citizen_picked | officer
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id", name="fk_examples_officer"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", name="fk_examples_ticket"))
    predicted: Mapped[str | None] = mapped_column(String(32))  # the category it corrects (or confirms)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- verified closure (issue 20, part 6): router/closure.py writes these ----------------------------------------

class PhotoCheck(Base):
    """One photo of a ticket checked (or waiting to be): an officer's "done" photo, or the citizen's it is compared
    with. Only the perceptual hash is kept, never the photo's EXIF (store/photo_checks.py)."""

    __tablename__ = "photo_checks"
    __table_args__ = (Index("ix_photo_checks_ticket", "ticket_id"),
                      Index("ix_photo_checks_state_created", "state", "created_at"))  # the sweep's and the hash search

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", name="fk_photo_checks_ticket"))
    role: Mapped[str] = mapped_column(String(16))  # resolution (the officer's "done") | report (the citizen's)
    photo: Mapped[str] = mapped_column(String(255))  # a store.media.MediaRef's text
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending → checked | unavailable
    phash: Mapped[str | None] = mapped_column(String(16))  # 64-bit pHash as hex; None: not decodable or not fetched
    # True when the EXIF was read as the photo arrived (a dashboard upload, stripped before it was kept).
    exif_read: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)  # what could not be checked, and why (Indonesian, for supervisors)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime | None]


class TicketFlag(Base):
    """Something a photo check found wrong, for the supervisor ("foto tidak di lokasi"); the officer is never
    stopped by it."""

    __tablename__ = "ticket_flags"
    __table_args__ = (UniqueConstraint("check_id", "code", name="uq_ticket_flags_check_code"),
                      Index("ix_ticket_flags_ticket", "ticket_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", name="fk_ticket_flags_ticket"))
    check_id: Mapped[int] = mapped_column(ForeignKey("photo_checks.id", name="fk_ticket_flags_check"))
    code: Mapped[str] = mapped_column(String(32))  # store.photo_checks: before_report | off_site | same_photo
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
