"""Verified closure: an officer's "done" photo is checked (store/photo_checks.py) in a background job, never in the
officer's way: a photo taken before the report, away from the ticket's point, or the same picture as the citizen's or
an earlier "done" photo flags the ticket for the supervisor (store.models.TicketFlag).

The EXIF must be read from the bytes as they came: a dashboard upload is read as it arrives (`upload_seen`), before
store.media strips it and keeps it; a channel's file (a Telegram photo) is fetched by the job, which reads it and
keeps nothing but its hash. A photo that cannot be fetched leaves a note on its check, never an error."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from rq import Queue
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from bots import aio, registry
from ingest import jobs
from ingest.jobs import CROP_QUEUE
from router import clock, context, duplicates
from store import db, media
from store import photo_checks as checks
from store.media import MediaRef
from store.models import PhotoCheck, Ticket, TicketFlag, utcnow

log = logging.getLogger(__name__)

RESOLUTION, REPORT = "resolution", "report"
MAX_BYTES = 20 * 1024 * 1024  # the most a Telegram bot may fetch (getFile)
REQUEUE_AFTER = timedelta(minutes=10)  # a check still pending this long lost its job: the sweep enqueues it again
GIVE_UP_AFTER = timedelta(days=1)  # ... and after this long, it is left unchecked, with a note


@dataclass(frozen=True)
class Shown:
    """A flag as the ticket page lists it."""

    label: str  # "foto tidak di lokasi"
    detail: str  # "diambil 2,0 km dari titik laporan (batas 300 m)"
    at: str  # when it was found, on the city's clock
    iso: str | None


# --- recording a "done" photo -------------------------------------------------------------------------------------

def record(session: Session, ticket: Ticket, photo: str) -> PhotoCheck | None:
    """A pending check of the ticket's new "done" photo, in the caller's transaction; its job is enqueued once that
    transaction has committed (a job that ran sooner would not find the row; a lost one is found by the sweep)."""
    if MediaRef.find(photo) is None:
        log.warning("closure: ticket %s: %r names no photo; not checked", ticket.public_id, photo[:40])
        return None
    check = PhotoCheck(ticket_id=ticket.id, role=RESOLUTION, photo=photo, state="pending", created_at=utcnow())
    session.add(check)
    session.flush()
    event.listen(session, "after_commit", partial(_after_commit, check.id), once=True)
    return check


def _after_commit(check_id: int, _session: Session) -> None:
    enqueue([check_id])  # never raises: the commit it follows has happened


def enqueue(check_ids: list[int]) -> None:
    """Enqueue the checks' jobs; when Redis does not take them, the sweep does later."""
    if not check_ids:
        return
    cfg = context.config()
    try:
        queue = Queue(CROP_QUEUE, connection=context.redis())
        for check_id in check_ids:
            jobs.enqueue(queue, jobs.VERIFY_PHOTO, check_id, timeout=cfg.job_timeout, retry=cfg.retry_intervals)
    except Exception as exc:  # the checks are stored as pending: the sweep enqueues them again
        log.error("closure: could not enqueue %d photo check(s): %s; the sweep will retry", len(check_ids), exc)


def upload_seen(session: Session, ticket: Ticket, photo: str, data: bytes) -> None:
    """A "done" photo uploaded on the dashboard, as it came (`data`, before its metadata is stripped): its EXIF
    time and place are checked now, in the caller's transaction; its hash is left to the job."""
    check = session.scalars(select(PhotoCheck).where(
        PhotoCheck.ticket_id == ticket.id, PhotoCheck.photo == photo, PhotoCheck.role == RESOLUTION,
        PhotoCheck.state == "pending", PhotoCheck.exif_read.is_(False)).order_by(PhotoCheck.id.desc())).first()
    if check is None:
        return
    exif = checks.read_exif(data, clock.zone())
    check.exif_read, check.note = True, _exif_note(exif, ticket)
    _flag(session, check, checks.check_exif(exif, ticket.created_at, _point(ticket), context.config().closure,
                                            clock.show))


def requeue(older_than: timedelta = REQUEUE_AFTER) -> int:
    """The sweep: enqueue again checks whose job was lost; give up on those pending longer than GIVE_UP_AFTER."""
    now = utcnow()
    with db.session() as session:
        session.execute(update(PhotoCheck).where(PhotoCheck.state == "pending",
                                                 PhotoCheck.created_at < now - GIVE_UP_AFTER)
                        .values(state="unavailable", checked_at=now, note="pemeriksaan foto tidak selesai"))
        stale = list(session.scalars(select(PhotoCheck.id).where(
            PhotoCheck.state == "pending", PhotoCheck.created_at < now - max(older_than, REQUEUE_AFTER))))
    if stale:
        log.warning("closure: re-enqueueing %d photo check(s) whose job was lost", len(stale))
        enqueue(stale)
    return len(stale)


# --- the job ---------------------------------------------------------------------------------------------------

def verify_photo(check_id: int) -> dict[str, int]:
    """Job: check a "done" photo (fetched from where it is held) and flag its ticket for what is wrong with it."""
    with db.session() as session:
        check = session.get(PhotoCheck, check_id)
        if check is None or check.state != "pending":
            return {"flags": 0}  # a repeat of a job already done, or a check rolled back with its action
        ticket = session.get(Ticket, check.ticket_id)
        if ticket is None:
            return {"flags": 0}
        report = ticket.photo_file_id
        if report and session.scalar(select(PhotoCheck.id).where(
                PhotoCheck.ticket_id == check.ticket_id, PhotoCheck.role == REPORT, PhotoCheck.photo == report)):
            report = None  # hashed before (another "done" photo of this ticket)
        photo = check.photo
    # Fetched outside any transaction: a channel's download may take seconds.
    data, why = fetch(photo)
    report_data, report_why = fetch(report) if report else (None, "")
    with db.session() as session:
        check = session.get(PhotoCheck, check_id, with_for_update=True, populate_existing=True)
        ticket = session.get(Ticket, check.ticket_id) if check is not None else None
        if check is None or ticket is None or check.state != "pending":
            return {"flags": 0}  # another worker finished it meanwhile
        if report:
            session.add(_report_check(ticket, report, report_data, report_why))
            session.flush()
        found = _findings(session, check, ticket, data, why)
    log.info("closure: ticket %s: done photo %s; flags from this check: %s", ticket.public_id, check.state,
             ", ".join(f.code for f in found) or "none")
    return {"flags": len(found)}


def _findings(session: Session, check: PhotoCheck, ticket: Ticket, data: bytes | None, why: str) -> list[checks.Finding]:
    """Check the fetched photo, store its hash, note and flags; → what it found."""
    notes = [check.note] if check.note else []
    found: list[checks.Finding] = []
    limits = context.config().closure
    if data is None:
        check.state = "unavailable"
        notes.append(f"foto tidak bisa diambil ({why}): tidak diperiksa")
    else:
        check.state = "checked"
        if not check.exif_read:
            exif = checks.read_exif(data, clock.zone())
            check.exif_read = True
            notes.append(_exif_note(exif, ticket) or "")
            found += checks.check_exif(exif, ticket.created_at, _point(ticket), limits, clock.show)
        check.phash = checks.fingerprint(data)
        if check.phash is None:
            notes.append("foto tidak bisa dibaca: kemiripan tidak diperiksa")
        same = checks.check_same(check.phash, _earlier(session, check, ticket), limits)
        found += [same] if same is not None else []
    check.note = "; ".join(n for n in notes if n) or None
    check.checked_at = utcnow()
    _flag(session, check, found)
    return found


def _report_check(ticket: Ticket, photo: str, data: bytes | None, why: str) -> PhotoCheck:
    """The citizen's photo, hashed to compare "done" photos with (its EXIF is the citizen's: not read)."""
    phash = checks.fingerprint(data) if data is not None else None
    note = None if phash else (f"foto pelapor tidak bisa diambil ({why})" if data is None else "foto pelapor tidak bisa dibaca")
    return PhotoCheck(ticket_id=ticket.id, role=REPORT, photo=photo, state="checked" if phash else "unavailable",
                      phash=phash, note=note, created_at=utcnow(), checked_at=utcnow())


def fetch(ref: str) -> tuple[bytes | None, str]:
    """A photo's bytes as its holder gives them (a kept one from the store, a channel's file from the channel);
    → (bytes, "") or (None, why not, in Indonesian)."""
    found = MediaRef.find(ref)
    if found is None or found.kind == "gone":
        return None, "tidak disimpan"
    if found.kind == "url":
        return None, "hanya tautan"
    if found.kind == "kept":
        with db.session() as session:
            kept = media.load(session, ref)
        return (kept[0], "") if kept else (None, "tidak ada di penyimpanan")
    if not registry.offers(found.channel, "downloads"):
        return None, f"{found.channel} tidak menyediakan unduhan"
    bot = context.config().telegram_bot
    if found.channel == "telegram" and found.holder and bot and found.holder != bot:
        return None, "dipegang bot Telegram lain"  # a Telegram file id is valid only for the bot that received it
    try:
        sender = registry.get(found.channel)
        data: bytes = aio.run(sender.download(found.id, MAX_BYTES),  # type: ignore[attr-defined]
                              timeout=context.config().job_timeout * 0.5)
    except Exception as exc:  # no bot configured, the channel down, a file too large or expired
        log.warning("closure: could not fetch %s photo %s…: %s", found.channel, found.id[:12], exc)
        return None, f"{found.channel} tidak memberikannya"
    return data, ""


def _earlier(session: Session, check: PhotoCheck, ticket: Ticket) -> list[checks.Earlier]:
    """Photos hashed before, to compare with: the citizen's photo of this ticket first, then the newest first."""
    since = utcnow() - timedelta(days=context.config().closure_compare_days)
    rows = session.execute(
        select(PhotoCheck.phash, PhotoCheck.role, PhotoCheck.ticket_id, Ticket.public_id)
        .join(Ticket, Ticket.id == PhotoCheck.ticket_id)
        .where(PhotoCheck.phash.is_not(None), PhotoCheck.id != check.id, PhotoCheck.created_at >= since)
        .order_by((PhotoCheck.ticket_id == ticket.id).desc(), (PhotoCheck.role == REPORT).desc(),
                  PhotoCheck.id.desc())).all()
    found = []
    for phash, role, ticket_id, public_id in rows:
        whose = "tiket ini" if ticket_id == ticket.id else str(public_id)
        found.append(checks.Earlier(str(phash), f"foto pelapor {whose}" if role == REPORT
                                    else f"foto selesai sebelumnya, {whose}"))
    return found


def _point(ticket: Ticket) -> tuple[float, float] | None:
    """The ticket's point, when it is where the report is (a shared location, a street), not an area's centre."""
    if ticket.lat is None or ticket.lon is None or ticket.geocode_source not in duplicates.PRECISE:
        return None
    return ticket.lat, ticket.lon


def _exif_note(exif: checks.Exif, ticket: Ticket) -> str | None:
    """What the EXIF could not say (for the supervisor: an unflagged photo is not a proven one)."""
    missing = [what for what, value in (("waktu", exif.taken_at), ("lokasi GPS", exif.point)) if value is None]
    if missing:
        return f"foto tanpa {' dan '.join(missing)} (EXIF)"
    if _point(ticket) is None:
        return "titik laporan tidak tepat: lokasi foto tidak dibandingkan"
    return None


def _flag(session: Session, check: PhotoCheck, found: list[checks.Finding]) -> None:
    now = utcnow()
    session.add_all(TicketFlag(ticket_id=check.ticket_id, check_id=check.id, code=f.code, detail=f.detail,
                               created_at=now) for f in found)
    for f in found:
        log.warning("closure: ticket %d flagged: %s (%s)", check.ticket_id, f.label, f.detail)


# --- what the dashboard and the stats read -----------------------------------------------------------------------

def flags_of(session: Session, ticket_id: int) -> list[Shown]:
    """A ticket's flags, oldest first, as its page lists them."""
    rows = session.scalars(select(TicketFlag).where(TicketFlag.ticket_id == ticket_id).order_by(TicketFlag.id))
    return [Shown(checks.LABELS.get(f.code, f.code), f.detail, clock.show(f.created_at), clock.iso(f.created_at))
            for f in rows]


def notes_of(session: Session, ticket_id: int) -> list[str]:
    """What the checks of a ticket's "done" photos could not check, and those still waiting."""
    rows = session.execute(select(PhotoCheck.state, PhotoCheck.note, PhotoCheck.created_at).where(
        PhotoCheck.ticket_id == ticket_id, PhotoCheck.role == RESOLUTION).order_by(PhotoCheck.id)).all()
    return [f"foto selesai {clock.show(at)}: " + ("menunggu pemeriksaan" if state == "pending" else str(note))
            for state, note, at in rows if state == "pending" or note]


def flagged(session: Session, ticket_ids: list[int]) -> dict[int, list[str]]:
    """The flags' labels of each of these tickets that has any (the queue's badges)."""
    found: dict[int, list[str]] = {}
    if ticket_ids:
        for ticket_id, code in session.execute(select(TicketFlag.ticket_id, TicketFlag.code).distinct().where(
                TicketFlag.ticket_id.in_(ticket_ids)).order_by(TicketFlag.ticket_id, TicketFlag.code)):
            found.setdefault(ticket_id, []).append(checks.LABELS.get(code, code))
    return found
