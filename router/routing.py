"""Routing as data: which agency acts on a category, which unit covers an area, who may act on a ticket."""
from __future__ import annotations

from typing import Any, Iterable, Protocol

from router import context

# Officers told first about a new ticket; the others hear of it when it is escalated.
FIELD_ROLES = ("petugas", "agency_staff")
# Who a breached ticket escalates to, in order.
ESCALATION = ("lurah", "camat", "agency_head")


class Scoped(Protocol):
    """What routing needs of an officer."""

    role: str
    areas: list[str]
    agencies: list[str]


class Placed(Protocol):
    """What routing needs of a ticket."""

    agency: str | None
    kelurahan_kode: str | None
    kecamatan_kode: str | None
    kab_kota_kode: str | None


def _routing() -> dict[str, Any]:
    return context.config().routing


def agency_for(category: str | None) -> str | None:
    """The agency code that acts on `category` (the default agency for an unlisted one); None for no category."""
    if not category or category == "not_report":
        return None
    routing = _routing()
    return routing["categories"].get(category, routing["default_agency"])


def agency_codes() -> list[str]:
    """The configured agencies' codes."""
    return list(_routing()["agencies"])


def agency_name(code: str | None) -> str | None:
    """An agency's display name (or a utility's: a ticket handed to one is held by it, router/handoff.py)."""
    agency = _routing()["agencies"].get(code or "") or utilities().get(code or "")
    return agency["name"] if agency else None


def utilities() -> dict[str, Any]:
    """The configured utilities by code: {"name", "telegram_chat_id"} (routing.utilities)."""
    return dict(_routing().get("utilities") or {})


def is_utility(code: str | None) -> bool:
    """True when `code` names a utility rather than a city agency."""
    return bool(code) and code in utilities()


def agency_of(ticket: Placed) -> str | None:
    """The ticket's agency; for a ticket filed before routing existed, the one its category maps to now."""
    return ticket.agency or agency_for(getattr(ticket, "category", None))


def _codes(ticket: Placed) -> list[str]:
    """The areas that cover the ticket, smallest first: those of the area it was handed to, if it was
    (router/handoff.py), else those of its place."""
    held = getattr(ticket, "holder_area", None)
    if held:
        parts = held.split(".")  # 31.75.03.1001 → itself, its kecamatan 31.75.03, its kota 31.75
        return [".".join(parts[:n]) for n in range(len(parts), 1, -1)]
    return [c for c in (ticket.kelurahan_kode, ticket.kecamatan_kode, ticket.kab_kota_kode) if c]


def in_area(areas: Iterable[str], ticket: Placed) -> bool:
    """True when one of `areas` (kota, kecamatan or kelurahan codes) contains the ticket's place."""
    codes = _codes(ticket)
    return any(code == area or code.startswith(area + ".") for area in areas for code in codes)


def may_act(officer: Scoped, ticket: Placed) -> bool:
    """An officer may act on a ticket in their areas and of their agencies; a scope left empty is not a limit
    when the other is set (a lurah covers every category in the kelurahan, an agency head the whole city)."""
    if officer.role == "supervisor":
        return True
    if not officer.areas and not officer.agencies:
        return False
    area_ok = not officer.areas or in_area(officer.areas, ticket)
    agency_ok = not officer.agencies or agency_of(ticket) in officer.agencies
    return area_ok and agency_ok


def responders(officers: Iterable[Scoped], ticket: Placed) -> list[Any]:
    """The officers a new ticket is sent to: field officers who may act on it; failing those, the lurah,
    then the camat, then the agency head."""
    able = [o for o in officers if o.role != "supervisor" and may_act(o, ticket)]
    if is_utility(agency_of(ticket)):  # a utility's ticket goes to its own liaisons, not the area's city officers
        able = [o for o in able if agency_of(ticket) in o.agencies]
    field = [o for o in able if o.role in FIELD_ROLES]
    if field:
        return field
    for role in ESCALATION:
        chosen = [o for o in able if o.role == role]
        if chosen:
            return chosen
    return []


def escalation_targets(officers: Iterable[Scoped], ticket: Placed, level: int) -> list[Any]:
    """The officers of escalation step `level` (0: lurah, 1: camat, 2: agency head) who may act on the ticket."""
    if level >= len(ESCALATION):
        return []
    return [o for o in officers if o.role == ESCALATION[level] and may_act(o, ticket)]


def unit_chat(ticket: Placed) -> str | None:
    """The Telegram group chat of the most specific unit covering the ticket's place, else its agency's."""
    units = _routing()["units"]
    for code in _codes(ticket):  # kelurahan first, then kecamatan, then kota
        unit = units.get(code)
        if unit and unit.get("telegram_chat_id"):
            return str(unit["telegram_chat_id"])
    agency = _routing()["agencies"].get(agency_of(ticket) or "")
    return str(agency["telegram_chat_id"]) if agency and agency.get("telegram_chat_id") else None


def desk(ticket: Placed) -> tuple[str, str, dict[str, str]] | None:
    """The group chat that takes a ticket no officer covers, and how to name it to the reporter: the most
    specific unit covering its place, else its agency's desk, else the city's triage chat; None for none.
    → (chat id, template key, template values)."""
    units = _routing()["units"]
    utility = utilities().get(agency_of(ticket) or "")
    for code in [] if utility else _codes(ticket):  # kelurahan first, then kecamatan, then kota
        unit = units.get(code)
        if unit and unit.get("telegram_chat_id"):
            return str(unit["telegram_chat_id"]), "who_unit", {"unit": unit["name"]}
    agency = _routing()["agencies"].get(agency_of(ticket) or "") or utility
    if agency and agency.get("telegram_chat_id"):
        return str(agency["telegram_chat_id"]), "who_agency_desk", {}
    triage = _routing().get("triage_chat_id")
    return (str(triage), "who_triage", {}) if triage else None
