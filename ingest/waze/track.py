"""What a feed snapshot changed: the alerts it shows are kept in `waze_alerts`; each new alert, each change
worth telling, and each alert gone for good becomes one inbound message for the router.

Runs in the poller's transaction, beside the inbound rows it produces, so a crash loses neither.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ingest.intake import Skipped
from ingest.message import Address, Location, Message, Sender
from ingest.waze.parse import CHANNEL, FeedResult, WazeReport, corroboration
from store import db
from store.models import WazeAlert

log = logging.getLogger(__name__)

SENDER = Sender(id="waze", name="Waze for Cities", is_bot=True)
DEFAULT_MISSES_BEFORE_GONE = 3  # Waze drops an alert nobody confirms; a snapshot or two can miss one that stays


@dataclass(frozen=True)
class Rules:
    """The tunables of tracking (config.yaml `waze:`)."""

    min_corroboration: int
    misses_before_gone: int = DEFAULT_MISSES_BEFORE_GONE


@dataclass
class Changes:
    """What one snapshot changed, counted for the log; `messages` go to the intake, and `rejected` the alerts
    the database would not take (kept as rejected inbound rows, with the reason)."""

    messages: list[Message]
    rejected: list[Skipped] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    back: int = 0
    gone: int = 0
    unchanged: int = 0


def observe(session: Session, result: FeedResult, rules: Rules, now: datetime) -> Changes:
    """Record a snapshot: upsert the mapped alerts it shows, count a miss for every active alert it lacks,
    and return a message for each new alert, each changed one, and each one gone after enough misses.

    All at once; should the database refuse that, alert by alert, so one it refuses is rejected alone."""
    try:
        with session.begin_nested():
            return _observe(session, result, rules, now, alone=False)
    except Exception as exc:
        if db.unavailable(exc):
            raise  # the database is down or busy: the poller tries the snapshot again, nothing is lost
        log.warning("waze: the snapshot could not be tracked at once (%s); tracking it alert by alert",
                    db.reason(exc))
    return _observe(session, result, rules, now, alone=True)


def _observe(session: Session, result: FeedResult, rules: Rules, now: datetime, alone: bool) -> Changes:
    """observe(), with each alert in a savepoint of its own when `alone`."""
    reports = {r.key: r for r in result.mapped}
    # The active rows (to count misses) and any row of an alert shown (a gone one may be back).
    stmt = select(WazeAlert).where(or_(WazeAlert.status == "active", WazeAlert.key.in_(list(reports))))
    rows = {row.key: row for row in session.scalars(stmt)} if reports else \
        {row.key: row for row in session.scalars(select(WazeAlert).where(WazeAlert.status == "active"))}
    changes = Changes(messages=[])
    for key, report in reports.items():
        if not alone:
            _track(session, rows, key, report, rules, now, changes)
            continue
        try:
            with session.begin_nested():
                found = Changes(messages=[])
                _track(session, rows, key, report, rules, now, found)
                session.flush()
        except Exception as exc:
            if db.unavailable(exc):
                raise
            rows.pop(key, None)  # rolled back with its savepoint: not counted as missing either
            changes.rejected.append(Skipped(CHANNEL, key, "rejected", f"not storable: {db.reason(exc)}", report.raw))
            continue
        changes.messages += found.messages
        for count in ("new", "updated", "back", "unchanged"):
            setattr(changes, count, getattr(changes, count) + getattr(found, count))
    # A snapshot with nothing in it at all is an upstream hiccup far more often than a city without one
    # alert: it counts no misses, so it cannot close every feed-only ticket at once.
    empty = not result.reports and not result.rejected
    if empty and rows:
        log.warning("waze: the feed snapshot is empty; %d active alert(s) kept as they are", len(rows))
    for key, row in rows.items():
        if row.status != "active" or key in reports:
            continue
        if key in result.present:
            row.misses = 0  # still in the feed (malformed this time, or not a report now): "consecutive" restarts
            continue
        if empty:
            continue
        row.misses += 1
        if row.misses >= rules.misses_before_gone:
            row.status, row.gone_at = "gone", now
            row.version += 1
            changes.gone += 1
            changes.messages.append(_gone_message(row, now))
    session.flush()
    return changes


def _track(session: Session, rows: dict[str, WazeAlert], key: str, report: WazeReport, rules: Rules,
           now: datetime, changes: Changes) -> None:
    """Insert or update one shown alert's row, counting it and adding its message when it is worth telling."""
    row = rows.get(key)
    values = _values(report, rules)
    if row is None:
        session.add(WazeAlert(key=key, **values, status="active", misses=0, version=1, first_seen_at=now,
                              last_seen_at=now))
        changes.new += 1
        changes.messages.append(_message(key, report, now, "new", 1))
        return
    row.last_seen_at, row.misses = now, 0
    if row.status == "gone":
        row.status, row.gone_at = "active", None
        changes.back += 1
    elif _signature(row) == _signature_of(values):
        # Not worth telling, but kept current (thumbs-up past the score's cap, a jam's delay).
        row.data, row.published_at = values["data"], values["published_at"]
        changes.unchanged += 1
        return
    else:
        changes.updated += 1
    for column, value in values.items():
        setattr(row, column, value)
    row.version += 1
    changes.messages.append(_message(key, report, now, "update", row.version))


def _values(report: WazeReport, rules: Rules) -> dict[str, Any]:
    score = corroboration(report)
    data: dict[str, Any] = {"type": report.type, "subtype": report.subtype, "reliability": report.reliability,
                            "confidence": report.confidence, "thumbs_up": report.thumbs_up, "city": report.city}
    if report.kind == "jam":
        data = {"level": report.level, "delay_s": report.delay_s, "length_m": report.length_m, "city": report.city}
    return {"kind": report.kind, "kind_key": report.kind_key[:64], "category": report.category,
            "lat": report.lat, "lon": report.lon, "street": report.street[:255], "description": report.description,
            "score": score, "corroborated": score >= rules.min_corroboration, "data": data,
            "published_at": report.published_at}


# What makes a change worth telling the router: not a jam's delay or length (they move every poll), nor a
# point that shifts a few metres as drivers confirm it.
def _signature(row: WazeAlert) -> tuple[Any, ...]:
    return (row.category, row.kind_key, row.score, row.corroborated, row.description, row.street,
            round(row.lat, 3), round(row.lon, 3))


def _signature_of(values: dict[str, Any]) -> tuple[Any, ...]:
    return (values["category"], values["kind_key"], values["score"], values["corroborated"], values["description"],
            values["street"], round(values["lat"], 3), round(values["lon"], 3))


def _message(key: str, report: WazeReport, now: datetime, what: str, version: int) -> Message:
    """The alert as a message: its uuid is the key of its first appearance; later ones are versions of it."""
    return Message(
        channel=CHANNEL, key=key if version == 1 else f"{key}@{version}", sender=SENDER,
        address=Address(channel=CHANNEL, chat_id=key), text=describe(report), provider_message_id=key,
        location=Location(lat=report.lat, lon=report.lon), command=f"waze:{what}", sent_at=report.published_at,
        received_at=now, raw=report.raw,
    )


def _gone_message(row: WazeAlert, now: datetime) -> Message:
    return Message(
        channel=CHANNEL, key=f"{row.key}@{row.version}", sender=SENDER, address=Address(channel=CHANNEL, chat_id=row.key),
        text=f"{row.kind_key}: no longer in the feed", provider_message_id=row.key,
        location=Location(lat=row.lat, lon=row.lon), command="waze:gone", received_at=now,
        raw={"key": row.key, "misses": row.misses},
    )


def describe(report: WazeReport) -> str:
    """One line an officer can read: what Waze says, where, and what drivers added."""
    where = ", ".join(p for p in (report.street, report.city) if p)
    what = report.kind_key if report.kind == "alert" else f"JAM level {report.level}"
    text = f"Waze {what}" + (f" di {where}" if where else "")
    if report.kind == "jam" and report.length_m:
        text += f" ({report.length_m} m" + (f", +{report.delay_s // 60} min)" if report.delay_s else ")")
    if report.description:
        text += f": {report.description}"
    return text
