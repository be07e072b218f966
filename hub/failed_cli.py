"""`crophub failed`: list, retry or drop the inbound messages the hub gave up on and the replies that failed for good."""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Literal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hub.settings import Settings

Kind = Literal["inbound", "reply"]
KINDS: tuple[Kind, ...] = ("inbound", "reply")
REASON_WIDTH = 100  # characters of a reason a listing shows (the row keeps it whole)
# A chat or user id in an error message ("chat 5550001 not found"): an operator needs the row id, not whose it was.
_ID_IN_TEXT = re.compile(r"-?\d{6,}")


@dataclass(frozen=True)
class Failed:
    """One failed row as an operator sees it: no chat, address or text."""

    kind: Kind
    id: int
    channel: str
    since: datetime
    reason: str


def add_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `crophub failed` and its actions to the CLI's subcommands (`command` makes one)."""
    failed = command(sub, "failed", "list, retry or drop dead-lettered inbound messages and failed replies")
    actions = failed.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, help in (("list", "list them: kind, id, channel, age, reason"),
                         ("retry", "put them back (messages: received, replies: pending, no attempts) and enqueue them"),
                         ("drop", "give up on them: kept as dropped (their keys still stop replays), never retried")):
        parser = command(actions, action, help)
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--inbound", action="store_true", help="inbound messages only")
        which.add_argument("--replies", action="store_true", help="replies only")
        if action != "list":
            parser.add_argument("ids", nargs="*", type=int, help="row ids from `crophub failed list`")
            parser.add_argument("--all", action="store_true", help="every failed one (of the kind chosen)")


def cmd_failed(settings: Settings, args: argparse.Namespace) -> int:
    """List, retry or drop failed inbound messages and replies."""
    from store import db, migrate

    kinds: tuple[Kind, ...] = ("inbound",) if args.inbound else ("reply",) if args.replies else KINDS
    if args.action != "list":
        problem = _unclear(args)
        if problem:
            print(f"crophub: {problem}", file=sys.stderr)
            return 2
    if settings.database.auto_migrate and not migrate.is_current(settings.database_url):
        migrate.upgrade(settings.database_url)
    if args.action == "list":
        db.configure(settings.database_url)
        with db.session() as session:
            return _list(failed_rows(session, kinds))
    ids = None if args.all else sorted(set(args.ids))
    if args.action == "drop":
        db.configure(settings.database_url)
        with db.session() as session:
            done = {kind: drop(session, kind, ids) for kind in kinds}
        return _said("dropped", done, ids)
    return _retry(settings, kinds, ids)


def _unclear(args: argparse.Namespace) -> str | None:
    if args.all and args.ids:
        return "give ids or --all, not both"
    if not args.all and not args.ids:
        return "give ids or --all"
    if args.ids and not (args.inbound or args.replies):
        return "messages and replies are numbered apart: say which ids these are with --inbound or --replies"
    return None


def failed_rows(session: Session, kinds: tuple[Kind, ...]) -> list[Failed]:
    """The failed rows of these kinds, each kind oldest first."""
    from sqlalchemy import select

    from store.models import InboundMessage, Outbox

    rows: list[Failed] = []
    if "inbound" in kinds:
        found = session.execute(select(InboundMessage.id, InboundMessage.channel, InboundMessage.received_at,
                                       InboundMessage.reason).where(InboundMessage.status == "failed")
                                .order_by(InboundMessage.received_at, InboundMessage.id))
        rows += [Failed("inbound", r.id, r.channel, r.received_at, r.reason or "") for r in found]
    if "reply" in kinds:
        found = session.execute(select(Outbox.id, Outbox.channel, Outbox.created_at, Outbox.last_error)
                                .where(Outbox.status == "failed").order_by(Outbox.created_at, Outbox.id))
        rows += [Failed("reply", r.id, r.channel, r.created_at, r.last_error or "") for r in found]
    return rows


def retry(session: Session, kind: Kind, ids: list[int] | None) -> list[int]:
    """Put failed rows back to be handled (messages received, replies pending, their tries counted from 0);
    → the ids put back. The caller enqueues them once this transaction has committed."""
    from sqlalchemy import update

    from store.models import InboundMessage, Outbox

    if kind == "inbound":
        values: dict[str, Any] = {"status": "received", "reason": None}
        # Tries are counted since migration 0007; without the column there is nothing to reset.
        if hasattr(InboundMessage, "attempts"):
            values["attempts"] = 0
        stmt = update(InboundMessage).where(InboundMessage.status == "failed").values(**values)
        stmt = stmt.where(InboundMessage.id.in_(ids)) if ids is not None else stmt
        return sorted(session.scalars(stmt.returning(InboundMessage.id)))
    values = {"status": "pending", "attempts": 0, "last_error": None, "not_before": None}
    if hasattr(Outbox, "next_attempt_at"):  # the outbox's schedule of tries, where the schema has it
        values["next_attempt_at"] = None
    reply_stmt = update(Outbox).where(Outbox.status == "failed").values(**values)
    reply_stmt = reply_stmt.where(Outbox.id.in_(ids)) if ids is not None else reply_stmt
    return sorted(session.scalars(reply_stmt.returning(Outbox.id)))


def drop(session: Session, kind: Kind, ids: list[int] | None) -> list[int]:
    """Mark failed rows dropped; → their ids. Kept rather than deleted: tickets and events point at messages,
    and a message's key (or a reply's dedupe key) is what stops a replay from storing it, or sending it, again."""
    from sqlalchemy import update

    from store.models import InboundMessage, Outbox

    model: Any = InboundMessage if kind == "inbound" else Outbox
    stmt = update(model).where(model.status == "failed").values(status="dropped")
    stmt = stmt.where(model.id.in_(ids)) if ids is not None else stmt
    return sorted(session.scalars(stmt.returning(model.id)))


def _retry(settings: Settings, kinds: tuple[Kind, ...], ids: list[int] | None) -> int:
    from rq import Queue

    from hub import runtime
    from hub.errors import Fatal
    from ingest import jobs
    from router import replies
    from store import db

    conn = runtime.setup(settings, runtime.redis_url_or_exit(settings))
    try:
        conn.ping()
    except Exception as exc:
        # Before any row changes: a row put back with no job would wait for the sweep instead.
        raise Fatal(f"Redis does not answer ({exc}); nothing was changed") from exc
    with db.session() as session:
        done = {kind: retry(session, kind, ids) for kind in kinds}
    queue = Queue(jobs.INTAKE_QUEUE, connection=conn)
    for inbound_id in done.get("inbound", []):
        # One job each, as the sweep sends a message tried before: whatever stops it cannot take others along.
        jobs.enqueue(queue, jobs.PROCESS, [inbound_id], timeout=settings.workers.job_timeout)
    replies.enqueue_send(done.get("reply", []))
    return _said("retried", done, ids)


def _said(verb: str, done: dict[Kind, list[int]], ids: list[int] | None) -> int:
    """Say what was done (and which ids were not failed ones); → the exit code."""
    names = {"inbound": "message(s)", "reply": "reply(ies)"}
    print(f"{verb} " + " and ".join(f"{len(found)} {names[kind]}" + (f" ({_ids(found)})" if found else "")
                                    for kind, found in done.items()))
    if ids is None:
        return 0
    missed = sorted(set(ids) - {i for found in done.values() for i in found})
    if missed:
        print(f"crophub: not failed (or not there): {_ids(missed)}", file=sys.stderr)
        return 1
    return 0


def _list(rows: list[Failed]) -> int:
    if not rows:
        print("nothing failed")
        return 0
    from web.privacy import redact

    now = datetime.now(timezone.utc)
    print(f"{'kind':8} {'id':>8}  {'channel':10} {'age':>7}  reason")
    for row in rows:
        line = (row.reason.splitlines() or [""])[0]
        reason = _ID_IN_TEXT.sub("[id]", redact(line))
        reason = reason if len(reason) <= REASON_WIDTH else reason[:REASON_WIDTH - 1] + "…"
        print(f"{row.kind:8} {row.id:>8}  {row.channel:10} {_age(now - row.since):>7}  {reason}")
    return 0


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, hours, minutes = seconds // 86400, seconds // 3600 % 24, seconds // 60 % 60
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:20])) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
