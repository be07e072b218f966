"""CROP: tickets go to officers as cards; officers act by replying to a card (or its buttons, or a
command with the ticket number); reporters confirm a fix or reopen the ticket.

Every change goes through router.lifecycle, so each one is audited and told to every reporter.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from bots import registry
from ingest import jobs
from ingest.jobs import CROP_QUEUE
from ingest.message import Message
from router import cards, closure, context, dialogue, handoff, lifecycle, recategorise, routing, ticket_ids, unit, waze
from router.lifecycle import TransitionError
from router.outcome import Outcome, Reply
from router.templates import render, status_label
from store import officers as roster
from store import db, ops
from store.media import MediaRef
from store.models import Officer, Outbox, Ticket

log = logging.getLogger(__name__)

# First word of an officer's reply or command → action. Commands come from typing or from a card's buttons.
OFFICER_WORDS = {
    "ambil": "take", "take": "take",
    "proses": "progress", "dikerjakan": "progress", "progress": "progress",
    "selesai": "done", "beres": "done", "done": "done",
    "tolak": "reject", "reject": "reject",
    "alihkan": "reassign", "reassign": "reassign",
    "kategori": "recategorise", "category": "recategorise",
}
# A reporter's answer to "is it fixed?" (a reply to the update, a button, or /beres|/belum <ticket>).
CITIZEN_WORDS = {
    "sudah": "fixed", "udah": "fixed", "ya": "fixed", "yes": "fixed", "fixed": "fixed", "beres": "fixed",
    "belum": "not_fixed", "tidak": "not_fixed", "no": "not_fixed", "masih": "not_fixed", "not": "not_fixed",
}
OFFICER_COMMANDS = {"/ambil", "/take", "/proses", "/progress", "/selesai", "/done", "/tolak", "/reject",
                    "/alihkan", "/reassign", "/kategori", "/category"}
CITIZEN_COMMANDS = {"/beres": "fixed", "/belum": "not_fixed"}
# Longer messages that start with "sudah" ("sudah 3 hari banjir ...") are reports, not answers.
BARE_ANSWER_WORDS = 4
_TICKET_ID = re.compile(rf"\b{ticket_ids.PATTERN.pattern}\b", re.IGNORECASE | re.ASCII)  # one shape for ids
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Action:
    """What a message asks to do to which ticket."""

    verb: str
    public_id: str | None  # named in the text; else the ticket of the message it replies to
    rest: str  # the note, reason or agency code after the verb and ticket number


def officer_action(msg: Message) -> Action | None:
    """The officer action a message asks for, if any."""
    return _action(msg, OFFICER_WORDS, {c: OFFICER_WORDS[c[1:]] for c in OFFICER_COMMANDS})


def citizen_answer(msg: Message) -> Action | None:
    """A reporter's "fixed" / "not fixed", if the message is one."""
    return _action(msg, CITIZEN_WORDS, CITIZEN_COMMANDS)


def is_bare_answer(msg: Message) -> bool:
    """A short "sudah" / "belum" typed on its own (not as a reply): it may answer "is it fixed?"."""
    return not msg.reply_to and not msg.command and len(msg.text.split()) <= BARE_ANSWER_WORDS \
        and citizen_answer(msg) is not None


def _action(msg: Message, words: dict[str, str], commands: dict[str, str]) -> Action | None:
    text = msg.text.strip()
    if msg.command:
        verb = commands.get(msg.command)
        text = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
    else:
        first = _WORD.match(text.lower())
        verb = words.get(first.group(0)) if first else None
        text = text[first.end():] if first else text
    if verb is None:
        return None
    found = _TICKET_ID.search(text)
    public_id = found.group(0).upper() if found else None
    rest = (text[:found.start()] + text[found.end():]) if found else text
    return Action(verb, public_id, rest.strip(" \t\n:-,."))


# --- sending tickets to officers ------------------------------------------------------------------

def enqueue_dispatch(ticket_ids: list[int]) -> None:
    """Enqueue the job that sends new tickets to officers (after their transaction has committed)."""
    if not ticket_ids:
        return
    cfg = context.config()
    try:
        jobs.enqueue(Queue(CROP_QUEUE, connection=context.redis()), jobs.DISPATCH, ticket_ids,
                     timeout=cfg.job_timeout, retry=cfg.retry_intervals)
    except Exception as exc:  # the tickets are stored as open: the sweep dispatches them later
        log.error("crop: could not enqueue dispatch of %d ticket(s): %s; the sweep will retry", len(ticket_ids), exc)


def dispatch_tickets(ticket_ids: list[int]) -> dict[str, int]:
    """Job: send open tickets to their officers (the sweep's way back in; the pipeline does it inline)."""
    with db.session() as session:
        sent, unrouted = dispatch_open(session, ticket_ids)
        done = unit.commit(session, Outcome(tuple(sent), moved=frozenset(ticket_ids)))
    unit.after_commit(done)
    return {"unrouted": unrouted}


def dispatch_open(session: Session, ticket_ids: list[int]) -> tuple[list[Reply], int]:
    """Send those of the tickets that are open (with a category) to their officers, in the caller's
    transaction; a ticket already sent is left alone. → (the cards and reporters' updates, tickets nobody
    covers)."""
    if not ticket_ids:
        return [], 0
    # Who covers each ticket is decided on plain rows first: most tickets of a busy batch go nowhere
    # when few officers are registered, and loading them as ORM objects would cost more than filing them.
    columns = (Ticket.id, Ticket.public_id, Ticket.category, Ticket.agency, Ticket.kelurahan_kode,
               Ticket.kecamatan_kode, Ticket.kab_kota_kode, Ticket.holder_area)
    # A ticket without a category goes out too (to its area's officers, or the triage chat): nobody would
    # ever decide it otherwise.
    candidates = session.execute(select(*columns).where(
        Ticket.id.in_(ticket_ids), Ticket.status == "open").order_by(Ticket.id)).all()
    if not candidates:
        return [], 0
    officers = roster.all_officers(session)
    rows: list[Reply] = []
    unrouted = []
    for candidate in candidates:
        if not routing.responders(officers, candidate) and not routing.desk(candidate):
            unrouted.append(candidate)
            continue
        ticket = session.get(Ticket, candidate.id, with_for_update=True)
        if ticket is not None and ticket.status == "open":  # another worker may have sent it meanwhile
            rows += dispatch(session, ticket, officers=officers)
    if unrouted:
        # The reporters hear it once, truthfully: filed, but nobody has received it yet.
        told = ops.tickets_with_event(session, [t.id for t in unrouted], "unrouted")
        first = [t for t in unrouted if t.id not in told]
        people = lifecycle.reporters_of(session, [t.id for t in first])
        for t in first:  # the plain rows will do: loading a busy batch's tickets as objects costs more than filing
            rows += lifecycle.citizen_updates(session, t, "unrouted", None, None, event_key="unrouted", people=people[t.id])
        # Recorded so the sweep offers them again hourly rather than at every sweep.
        ops.add_events(session, [{"ticket_id": t.id, "kind": "unrouted", "actor": "router"} for t in unrouted])
        log.warning("crop: no officer or unit chat covers %d ticket(s) (%s); they wait in the queue and are "
                    "offered again hourly (see `crophub officer add`)", len(unrouted),
                    ", ".join(f"{t.public_id} {t.agency}@{t.holder_area or t.kelurahan_kode or t.kecamatan_kode or '-'}"
                              for t in unrouted[:5]) + (" ..." if len(unrouted) > 5 else ""))
    return rows, len(unrouted)


def dispatch(session: Session, ticket: Ticket, language: str = "id",
             officers: list[Officer] | None = None, prefix: str = "", tell: bool = True) -> list[Reply]:
    """Send the ticket's card to the officers who should act (or the unit's group chat) and mark it assigned;
    → the cards and reporters' updates; none when nobody covers it (it stays open). `prefix` tops the card;
    `tell` False: the caller tells the reporters (a handoff)."""
    if ticket.status not in ("open", "reopened"):
        return []
    targets = routing.responders(officers if officers is not None else roster.all_officers(session), ticket)
    reached = [(o, a) for o in targets for a in [cards.officer_address(o, ticket)] if a is not None]
    if targets and not reached:
        log.warning("crop: ticket %s: %s cover it, but none has an identity on a channel that carries officers",
                    ticket.public_id, ", ".join(o.name for o in targets))
    found = None if reached else routing.desk(ticket)
    addresses = [a for _, a in reached] or ([cards.group_address(found[0], ticket)] if found else [])
    if not addresses:
        return []  # the caller records and logs it
    rows = [cards.card(ticket, address, language, prefix=prefix) for address in addresses]
    who = (found[1], found[2]) if found else ("who_officers", {})
    rows += lifecycle.change(session, ticket, "assigned", "router", who=who, tell=tell)
    log.info("crop: ticket %s sent to %s", ticket.public_id,
             ", ".join(o.name for o, _ in reached) or f"{found[1] if found else '?'} chat {addresses[0].chat_id}")
    return rows


# --- officers acting -------------------------------------------------------------------------------

def handle_officer(session: Session, msg: Message, inbound_id: int, action: Action, replied: Outbox | None,
                   language: str) -> Outcome:
    """Carry out an officer's action on a ticket, if they may; → the reply to them and updates to reporters."""
    ticket = _ticket_of(session, action, replied)

    def answer(text: str, about_ticket: bool = True) -> Reply:
        # An answer to an officer works like the card: replying to it acts on the same ticket. Refusals
        # carry no ticket, so a reply to one cannot reach it.
        on_ticket = ticket.id if ticket is not None and about_ticket else None
        return Reply(msg.address, text, f"reply:{inbound_id}", on_ticket, inbound_id, card=on_ticket is not None)

    if ticket is None:
        return Outcome.about([answer(render("officer_unknown_ticket", language))])
    officer = roster.by_identity(session, msg.channel, msg.sender.id) if registry.offers(msg.channel, "officers") else None
    photo = next((str(MediaRef.of(msg.channel, m.file_id, msg.address.bot)) for m in msg.media if m.kind == "photo"), None)
    text, rows, allowed = _attempt(session, ticket, officer, action, photo, inbound_id,
                                   f"{msg.channel}:{msg.sender.id}", language)
    return Outcome.about([answer(text, about_ticket=allowed)] + rows)


def _ticket_of(session: Session, action: Action, replied: Outbox | None) -> Ticket | None:
    """The ticket an action names, or that the replied-to message is about; locked for this transaction, so
    two workers handling two officers' messages about it change it one after the other."""
    if action.public_id:
        found = ops.ticket_by_public_id(session, action.public_id)
        ticket_id = found.id if found else None
    else:
        ticket_id = replied.ticket_id if replied is not None else None
    return session.get(Ticket, ticket_id, with_for_update=True, populate_existing=True) if ticket_id else None


# The verbs an officer may use on a ticket in each status (the dashboard offers only these).
VERB_TARGETS = {"take": "taken", "progress": "in_progress", "done": "resolved", "reject": "rejected", "reassign": "open",
                "recategorise": "open"}


def allowed_actions(status: str) -> tuple[str, ...]:
    """The officer verbs (take, progress, done, reject, reassign) the lifecycle allows from `status`."""
    return tuple(verb for verb, to in VERB_TARGETS.items() if lifecycle.can_change(status, to)
                 and (verb != "reassign" or status in handoff.HANDABLE))


def act_from_web(session: Session, ticket: Ticket, officer: Officer, verb: str, rest: str = "",
                 photo: str | None = None) -> tuple[str, list[Reply], bool]:
    """An officer's action from the dashboard, by the same rules as in chat (the ticket locked by the caller);
    → (what to tell the officer, the replies: reporters' updates, cards; whether it was done)."""
    if verb == "done" and photo is None:
        return render("officer_need_photo_web", "id", ticket=ticket.public_id), [], False
    if verb == "reject" and not rest.strip():
        return render("officer_need_reason_web", "id"), [], False
    before = (ticket.status, ticket.agency)
    text, rows, _ = _attempt(session, ticket, officer, Action(verb, ticket.public_id, rest.strip()), photo, None,
                             f"web:{officer.id}", "id")
    return text, rows, bool(rows) or (ticket.status, ticket.agency) != before


def _attempt(session: Session, ticket: Ticket, officer: Officer | None, action: Action, photo: str | None,
             inbound_id: int | None, actor: str, language: str) -> tuple[str, list[Reply], bool]:
    """An officer's action by the rules chat and dashboard share; → (what to tell the officer, the replies,
    whether they may act on the ticket at all)."""
    if officer is None or not routing.may_act(officer, ticket):
        log.warning("crop: %s (%s) may not act on ticket %s; refused %r", actor,
                    officer.name if officer else "not an officer", ticket.public_id, action.verb)
        ops.add_events(session, [{"ticket_id": ticket.id, "kind": "refused", "actor": actor,
                                  "inbound_id": inbound_id, "data": {"action": action.verb}}])
        return render("officer_not_allowed", language, ticket=ticket.public_id), [], False
    if _taken_by_another(session, ticket, officer, action.verb):
        return render("officer_taken", language, ticket=ticket.public_id), [], True
    try:
        acted = _act(session, ticket, officer, action, photo, inbound_id, language)
    except TransitionError:
        return render("officer_cannot", language, ticket=ticket.public_id,
                      status=status_label(ticket.status, language, officer=True)), [], True
    if acted.said is not None:  # a question back to the officer, or (a handoff) what was done, in its words
        return acted.said, list(acted.replies), True
    return render("officer_done", language, ticket=ticket.public_id,
                  status=status_label(ticket.status, language, officer=True)), list(acted.replies), True


def _taken_by_another(session: Session, ticket: Ticket, officer: Officer, verb: str) -> bool:
    """A ticket one officer has taken is theirs: others (supervisors excepted) may only reassign it."""
    holder = session.get(Officer, ticket.assigned_officer_id) if ticket.assigned_officer_id else None
    return holder is not None and holder.active and holder.id != officer.id and officer.role != "supervisor" \
        and verb != "reassign"


def _act(session: Session, ticket: Ticket, officer: Officer, action: Action, photo: str | None,
         inbound_id: int | None, language: str) -> Outcome:
    """Carry out an officer's verb on the ticket; → its replies, or (said) a question back to the officer."""
    actor = f"officer:{officer.id}"

    def change(to: str, note: str | None = None, photo: str | None = None) -> list[Reply]:
        return lifecycle.change(session, ticket, to, actor, note=note, photo=photo, officer_id=officer.id,
                                inbound_id=inbound_id)

    if action.verb == "take":
        if ticket.status == "taken" and ticket.assigned_officer_id == officer.id:
            raise TransitionError(ticket.status)  # it is theirs already
        return Outcome(tuple(change("taken")))
    if action.verb == "progress":
        return Outcome(tuple(change("in_progress", note=action.rest or None)))
    if action.verb == "done":
        if photo is None:
            return Outcome(said=render("officer_need_photo", language, ticket=ticket.public_id))
        rows = change("resolved", note=action.rest or None, photo=photo)
        closure.record(session, ticket, photo)  # verified closure: the photo is checked after the commit, by a job
        # Nobody can answer "is it fixed?" on a ticket only the feed reported, once its alert is gone.
        return Outcome(tuple(rows + waze.close_resolved(session, ticket)))
    if action.verb == "reject":
        if not action.rest:
            return Outcome(said=render("officer_need_reason", language))
        return Outcome(tuple(change("rejected", note=action.rest)))
    if action.verb == "recategorise":  # to another category, and the agency it maps to, whose officers get the card
        changed = recategorise.change(session, ticket, action.rest, actor, officer.id, inbound_id, language)
        return changed if changed.said is not None else Outcome(changed.replies + tuple(dispatch(session, ticket)))
    # reassign: a handoff to another kelurahan/kecamatan, agency or utility, with a reason; the clock keeps running
    return handoff.hand_off(session, ticket, officer, action.rest, inbound_id, language,
                            lambda t, prefix: dispatch(session, t, prefix=prefix, tell=False))


# --- reporters confirming ----------------------------------------------------------------------------

def handle_citizen_answer(session: Session, msg: Message, inbound_id: int, citizen_id: int, action: Action,
                          replied: Outbox | None, language: str) -> Outcome | None:
    """A reporter says a resolved ticket is fixed (it closes) or not (it reopens and goes back to the
    officers); None when the message is not such an answer, so it is handled as anything else."""
    ticket = _ticket_of(session, action, replied)
    if ticket is None and is_bare_answer(msg):
        # Typed on its own: it answers the citizen's one ticket waiting for this answer, if there is one.
        waiting = ops.resolved_tickets_of_reporter(session, citizen_id)
        if len(waiting) == 1:
            ticket = session.get(Ticket, waiting[0], with_for_update=True, populate_existing=True)
    if ticket is not None and ticket.status != "resolved" and msg.command in CITIZEN_COMMANDS:
        # A "Sudah beres / Belum" pressed (or typed) after the question was settled: say so, drop the buttons.
        text = render("stale_closed", language, ticket=ticket.public_id, status=status_label(ticket.status, language))
        return Outcome.about(dialogue.stale(msg, inbound_id, ticket.id, text)
                             or [Reply(msg.address, text, f"reply:{inbound_id}", ticket.id, inbound_id)])
    if ticket is None or ticket.status != "resolved":
        return None
    if citizen_id not in {r.citizen_id for r in lifecycle.reporters(session, ticket.id)}:
        return None
    actor = f"citizen:{citizen_id}"
    words = _citizen_words(msg, action)
    told = _tell_officers(session, ticket, "officer_confirmed" if action.verb == "fixed" else "officer_reopened", words)
    if action.verb == "fixed":
        rows = lifecycle.change(session, ticket, "closed", actor, inbound_id=inbound_id)
    else:
        rows = lifecycle.change(session, ticket, "reopened", actor, note=words or None, inbound_id=inbound_id)
        back = _back_to_officers(session, ticket, words)
        carded = {r.chat_key for r in back if r.card}
        told = [r for r in told if r.chat_key not in carded]  # a new card there says it already
        rows += back
    # The answerer's own update is their reply: threaded under their message, and it settles a pressed button.
    here = msg.address
    return Outcome.about([replace(r, to=here) if r.chat_key == here.chat_key else r for r in rows] + told)


def _citizen_words(msg: Message, action: Action) -> str:
    """What the reporter said beyond the bare answer (a button press says nothing more)."""
    if msg.address.callback_id or msg.command:
        return action.rest
    text = msg.text.strip()
    return "" if len(text.split()) <= 1 else text[:500]


def _tell_officers(session: Session, ticket: Ticket, key: str, words: str) -> list[Reply]:
    """Tell the chats that hold the ticket's card what the reporter answered, with their words."""
    text = render(key, "id", ticket=ticket.public_id, words=render("officer_words", "id", text=words) if words else "")
    return cards.tell(session, ticket, text, key)


def _back_to_officers(session: Session, ticket: Ticket, why: str) -> list[Reply]:
    """A reopened ticket's card goes again to the officer who resolved it; with them gone, it is open again,
    and sent out like a new ticket (by the pipeline, in this transaction; or by the sweep)."""
    officer = session.get(Officer, ticket.assigned_officer_id) if ticket.assigned_officer_id else None
    if officer is None or not officer.active:
        ticket.assigned_officer_id = None
        return lifecycle.change(session, ticket, "open", "router", note=why or None)
    address = cards.officer_address(officer, ticket)
    if address is None:  # no longer reachable on any channel: sent out like a new ticket
        ticket.assigned_officer_id = None
        return lifecycle.change(session, ticket, "open", "router", note=why or None)
    prefix = render("card_reopened", "id") + (why or "-") + "\n\n"
    return [cards.card(ticket, address, prefix=prefix)]
