"""Handoffs that keep the clock: an officer (replying "alihkan <tujuan> <alasan>" to a ticket's card) or a supervisor
(the dashboard's "Alihkan" action) hands a ticket to another kelurahan or kecamatan, another agency, or a utility
(routing.utilities), naming a reason from routing.handoff_reasons.

The ticket goes back to open and out again to the new holder's officers or chat as routing sends any ticket (a
handoff to an area sets `Ticket.holder_area`, which routing reads instead of the place's areas; one to an agency or
a utility sets `Ticket.agency`). The SLA clock is not touched: `sla_started_at` stays, the clock does not pause, and a
handoff is not a first response (router/lifecycle.py). The chats that held the card hear that it left them; every
reporter is told where it went and why.

The trail: a ticket event of kind "handoff" (KIND), written before the status change to open, whose data is
    {"to_kind": "area" | "agency" | "utility", "to": code, "to_name": "Kelurahan Cipinang Muara",
     "from_name": the holder before, "reason": "bukan_wilayah", "reason_label": "bukan wilayah kami",
     "note": "Dialihkan ke Kelurahan Cipinang Muara: bukan wilayah kami",   # public-safe: no person named
     "agency": the agency (or utility) code holding it after the handoff, "holder_area": the area code or None,
     "officer_id": who handed it, "words": the officer's own words after the reason (not public)}.
A public page shows `note` (it names the new holder and the reason, never a person); `to_name`/`reason_label` are
there for pages that lay it out themselves.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from sqlalchemy.orm import Session

from ingest.message import Address
from nlp.gazetteer import Area, gazetteer
from router import cards, context, lifecycle, questions, routing
from router.lifecycle import TransitionError
from router.outcome import Outcome, Reply
from router.templates import render
from store import ops
from store.models import Officer, Ticket, utcnow

log = logging.getLogger(__name__)

KIND = "handoff"  # the ticket event a handoff writes (see the module's docstring for its data)
# The statuses in which the city holds a ticket: only those can be handed on.
HANDABLE = frozenset({"open", "assigned", "taken", "in_progress", "reopened"})
_AREA_CODE = re.compile(r"^31\.\d{2}\.\d{2}(\.\d{4})?$")  # a kecamatan or a kelurahan
_LEVEL_WORDS = {"kel": "kelurahan", "kelurahan": "kelurahan", "kec": "kecamatan", "kecamatan": "kecamatan"}
_LEVEL_NAMES = {"kelurahan": "Kelurahan", "kecamatan": "Kecamatan"}


@dataclass(frozen=True)
class Target:
    """Where a ticket can be handed: an area, an agency or a utility, by code, and its name as the public reads it."""

    kind: str  # area | agency | utility
    code: str
    name: str


@dataclass(frozen=True)
class Asked:
    """What an officer's "alihkan ..." asks for: the targets its words name (none, one, or several alike), the
    reason's code if one was named, and the officer's own words after it."""

    target_words: str
    targets: tuple[Target, ...]
    reason: str | None
    words: str


def reasons() -> dict[str, dict[str, str | None]]:
    """The configured reasons by code: {"id": Indonesian words, "en": English words or None}."""
    return dict(context.config().routing.get("handoff_reasons") or {})


def reason_label(code: str, language: str = "id") -> str:
    """A reason's words in `language` (Indonesian when there is no translation; the code for an unknown one)."""
    labels = reasons().get(code) or {}
    return labels.get(language) or labels.get("id") or code


def parse(rest: str) -> Asked:
    """Read "<target> <reason> [words]" ("kel. cipinang muara bukan_wilayah", "pln aset_utilitas", "dlh bukan
    kewenangan kami"): the reason is its code or its words; the target is what comes before it."""
    found = _reason_in(rest)
    if found is None:
        # No reason named: the longest start of the words that names a target, so the answer can say it knew it.
        tokens = rest.split()
        for n in range(len(tokens), 0, -1):
            targets = find_targets(" ".join(tokens[:n]))
            if targets:
                return Asked(" ".join(tokens[:n]), targets, None, " ".join(tokens[n:]))
        return Asked(rest.strip(), (), None, "")
    code, start, end = found
    target_words = rest[:start].strip(" \t\n:-,.")
    return Asked(target_words, find_targets(target_words), code, rest[end:].strip(" \t\n:-,."))


def _reason_in(text: str) -> tuple[str, int, int] | None:
    """(code, start, end) of the first reason `text` names by code or words; the longest at the same place."""
    low = text.lower()
    best: tuple[str, int, int] | None = None
    for code, labels in reasons().items():
        for phrase in {code, code.replace("_", " "), labels.get("id") or "", labels.get("en") or ""} - {""}:
            m = re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", low)
            if m and (best is None or (m.start(), -m.end()) < (best[1], -best[2])):
                best = (code, m.start(), m.end())
    return best


def _plain(words: str) -> str:
    return " ".join(words.lower().replace("_", " ").replace(".", " ").replace(",", " ").split())


def find_targets(words: str) -> tuple[Target, ...]:
    """The targets `words` names: an agency or utility by code or name, a kecamatan or kelurahan by code or name
    ("kel. cipinang muara", "kecamatan menteng", "31.75.03.1002"); several when a name fits more than one area."""
    plain = _plain(words)
    if not plain:
        return ()
    for code, agency in context.config().routing["agencies"].items():
        if plain in (_plain(code), _plain(agency["name"])):
            return (Target("agency", code, agency["name"]),)
    for code, utility in routing.utilities().items():
        name = utility["name"]
        if plain in (_plain(code), _plain(name), _plain(name.split(" (")[0])):
            return (Target("utility", code, name),)
    code = words.strip()
    if _AREA_CODE.match(code):
        area = gazetteer().areas.get(code)
        return (_area_target(area),) if area is not None and area.level in _LEVEL_NAMES else ()
    first, _, name = plain.partition(" ")
    level = _LEVEL_WORDS.get(first)
    name = name if level else plain
    found = [a for a in _areas_named().get(name, []) if level is None or a.level == level]
    if level is None and len({a.level for a in found}) > 1:
        found = [a for a in found if a.level == "kelurahan"]  # "Menteng" alone: the kelurahan (say "kec." for the other)
    return tuple(_area_target(a) for a in found)


def _area_target(area: Area) -> Target:
    return Target("area", area.kode, f"{_LEVEL_NAMES[area.level]} {area.nama}")


@lru_cache(maxsize=1)
def _areas_named() -> dict[str, list[Area]]:
    """Kelurahan and kecamatan by their name in plain lower case."""
    found: dict[str, list[Area]] = {}
    for area in gazetteer().areas.values():
        if area.level in _LEVEL_NAMES:
            found.setdefault(_plain(area.nama), []).append(area)
    return found


def holder_words(ticket: Ticket) -> str:
    """Who holds a ticket now, in words: its agency (or utility), and the area it was handed to if it was
    ("Dinas Sumber Daya Air — Kelurahan Cipinang Muara")."""
    agency = routing.agency_name(routing.agency_of(ticket)) or render("agency_unknown", "id")
    area = gazetteer().areas.get(ticket.holder_area or "")
    return f"{agency} — {_area_target(area).name}" if area is not None and area.level in _LEVEL_NAMES else agency


def _same(ticket: Ticket, target: Target) -> bool:
    if target.kind == "area":
        codes = routing._codes(ticket)
        return bool(codes) and codes[0] == target.code
    return routing.agency_of(ticket) == target.code


def help_text(language: str) -> str:
    """What an officer may hand a ticket to, and the reasons they may give."""
    names = routing.utilities()
    return render("handoff_help", language, agencies=", ".join(context.config().routing["agencies"]),
                  utilities=", ".join(f"{c} ({u['name']})" for c, u in names.items()) or "-",
                  reasons=reason_list(language))


def reason_list(language: str) -> str:
    """The reasons as an officer types them: "bukan_wilayah (bukan wilayah kami), ..."."""
    return ", ".join(f"{code} ({reason_label(code, language)})" for code in reasons())


def hand_off(session: Session, ticket: Ticket, officer: Officer, rest: str, inbound_id: int | None, language: str,
             send: Callable[[Ticket, str], list[Reply]]) -> Outcome:
    """Hand the (locked) ticket to what `rest` names, for the reason it names, by `officer` (whose right to act on
    it the caller has checked); `send` sends it to its new holder with a line on top of the card. → the replies
    (old cards told, new cards, reporters told) and, said, the answer to the officer: what was done, or what to
    write instead. Raises TransitionError when the city does not hold the ticket (resolved, closed...)."""
    asked = parse(rest)
    if not asked.targets:
        if not asked.target_words:
            return Outcome(said=help_text(language))
        return Outcome(said=render("handoff_unknown_target", language, target=asked.target_words[:60])
                       + "\n" + help_text(language))
    if len(asked.targets) > 1:
        choices = "; ".join(f"{gazetteer().name_of(t.code)} ({t.code})" for t in asked.targets[:8])
        return Outcome(said=render("handoff_ambiguous", language, target=asked.target_words[:60], choices=choices))
    target = asked.targets[0]
    if asked.reason is None:
        return Outcome(said=render("handoff_need_reason", language, holder=target.name, reasons=reason_list(language),
                                   example=f"{asked.target_words} {next(iter(reasons()), '')}"))
    if ticket.status not in HANDABLE:
        raise TransitionError(ticket.status)
    if _same(ticket, target):
        return Outcome(said=render("handoff_same", language, ticket=ticket.public_id, holder=target.name))
    return Outcome(tuple(_move(session, ticket, officer, target, asked, inbound_id, send)),
                   said=render("officer_handed_off", language, ticket=ticket.public_id, holder=target.name,
                               reason=reason_label(asked.reason, language)))


def _move(session: Session, ticket: Ticket, officer: Officer, target: Target, asked: Asked, inbound_id: int | None,
          send: Callable[[Ticket, str], list[Reply]]) -> list[Reply]:
    """The handoff itself: the old cards told and their buttons gone, the trail, the status, the new holder's
    cards, the reporters told."""
    reason = asked.reason or ""
    label = reason_label(reason, "id")
    before = holder_words(ticket)
    actor = f"officer:{officer.id}"
    cards_sent = ops.card_chats(session, ticket.id)
    rows = cards.tell(session, ticket, render("card_handed_off", "id", ticket=ticket.public_id, holder=target.name,
                                              reason=label, officer=officer.name), f"handoff:{target.code}")
    rows += questions.clear_buttons(session, [c.dedupe_key for c in cards_sent], ticket.id)
    # The reporter's category question ends: their answer must not send it back where it came from.
    rows += questions.end(session, ticket.id, questions.CATEGORY, "outdated")
    note = render("handoff_note", "id", holder=target.name, reason=label)
    now = utcnow()
    if target.kind == "area":
        ticket.holder_area = target.code
    else:
        ticket.agency = target.code
    ticket.assigned_officer_id = None
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": KIND, "actor": actor, "inbound_id": inbound_id,
                              "created_at": now,
                              "data": {"to_kind": target.kind, "to": target.code, "to_name": target.name,
                                       "from_name": before, "reason": reason, "reason_label": label, "note": note,
                                       "agency": ticket.agency, "holder_area": ticket.holder_area,
                                       "officer_id": officer.id, "words": asked.words[:500] or None}}])
    # Back to open and out again, the clock untouched (no pause, no restart, not a response); the reporters hear
    # it from this module, in their words, rather than as "sent to officers".
    rows += lifecycle.change(session, ticket, "open", actor, officer_id=officer.id, inbound_id=inbound_id,
                             at=now, tell=False)
    prefix = render("card_handed_in", "id", holder=before, reason=label,
                    words=render("officer_words_handoff", "id", text=asked.words[:300]) if asked.words else "")
    rows += send(ticket, prefix)
    rows += _tell_reporters(session, ticket, target, reason, now.isoformat())
    log.info("handoff: ticket %s from %s to %s (%s) by %s", ticket.public_id, before, target.name, reason, actor)
    return rows


def _tell_reporters(session: Session, ticket: Ticket, target: Target, reason: str, at: str) -> list[Reply]:
    """Every reporter, in their language: where the ticket went, and why; its deadline stays."""
    rows = []
    for reporter in lifecycle.reporters(session, ticket.id):
        lang = reporter.language
        text = render("update_handoff", lang, ticket=ticket.public_id, holder=target.name,
                      reason=reason_label(reason, lang))
        rows.append(Reply(Address(**reporter.reply_address), text,
                          f"update:{ticket.id}:{reporter.citizen_id}:handoff:{target.code}@{at}", ticket.id))
    return rows
