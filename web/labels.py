"""The words officers read on the dashboard, its map and the supervisors' page: statuses as officers say them (never
the citizen's "Anda"), agencies and areas by name, and a ticket's timeline events in Indonesian (the dashboard has
no language setting). Codes stay in form values and URLs only."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from nlp.gazetteer import gazetteer, short_name
from router import context
from router import handoff, lifecycle, routing
from router.cards import street
from router.templates import status_label

# The dashboard's actions, in the order the form offers them (router.crop.allowed_actions picks among them).
ACTIONS = {"take": "Ambil", "progress": "Sedang dikerjakan", "done": "Selesai (dengan foto hasil)", "reject": "Tolak",
           "reassign": "Alihkan (wilayah, dinas, utilitas)", "recategorise": "Ubah kategori"}

# What each kind of ticket event means (grep '"kind":' under router/ and store/); an unknown kind gets a generic line.
EVENT_WORDS: dict[str, str] = {
    "created": "Laporan masuk",
    "status": "Status",
    "citizen_comment": "Keterangan tambahan dari pelapor",
    "citizen_attachment": "Lampiran tambahan dari pelapor",
    "merged": "Laporan lain digabungkan ke tiket ini",
    "category_confirmed": "Pelapor memilih kategori",
    "recategorised": "Kategori diubah petugas",
    "refused": "Tindakan ditolak: petugas tidak berwenang atas tiket ini",
    "unrouted": "Belum ada petugas atau unit yang mencakup wilayah dan kategori ini",
    "corroborated": "Dikuatkan oleh peringatan Waze",
    "waze_updated": "Peringatan Waze diperbarui",
    "waze_gone": "Peringatan Waze hilang dari feed",
    "sla_breach": "Melewati target waktu (SLA)",
    "question": "Pelapor ditanya",
    "question_dropped": "Pertanyaan dihentikan tanpa jawaban",
    "question_expired": "Pertanyaan kedaluwarsa tanpa jawaban",
    "place_set": "Lokasi dilengkapi pelapor",
    "handoff": "Dialihkan",  # router/handoff.py
    # HC (issue 20): nearby reports before filing, and short-lived categories expiring.
    "nearby_offered": "Pelapor ditanya apakah mendukung laporan serupa di dekatnya",
    "nearby_answered": "Pelapor menjawab soal laporan serupa di dekatnya",
    "nearby": "Mungkin duplikat laporan di dekatnya",
}
QUESTION_WORDS = {"place": "lokasi laporan", "category": "kategori laporan", "fixed": "apakah sudah beres",
                  "nearby": "dukung laporan serupa di dekatnya"}
# Who did it: officers by name (looked up by the caller), citizens stay "warga" (officers see the words, not who).
ACTOR_WORDS = {"citizen": "warga", "router": "sistem", "waze": "Waze", "sla": "sistem (SLA)",
               "expiry": "sistem (kedaluwarsa)"}


@dataclass(frozen=True)
class Event:
    """A timeline line: what happened and what it carried, in words."""

    what: str
    detail: str


def status_words(status: str | None) -> str:
    """A status as officers read it (the officer labels)."""
    return status_label(status, "id", officer=True) if status else "-"


def statuses() -> list[tuple[str, str]]:
    """Every lifecycle status as (code, words), for the filters."""
    return [(s, status_words(s)) for s in lifecycle.STATUSES]


def agency_words(code: str | None) -> str:
    """An agency's name ("-" for none; its code only when the config no longer names it)."""
    return routing.agency_name(code) or code or "-"


def agencies() -> list[tuple[str, str]]:
    """The configured agencies as (code, name), by name."""
    return sorted(((c, agency_words(c)) for c in routing.agency_codes()), key=lambda pair: pair[1])


def handoff_targets() -> list[tuple[str, list[tuple[str, str]]]]:
    """Where a ticket can be handed (router/handoff.py), grouped: agencies, utilities, then per kota its kecamatan
    and kelurahan, as (code, name)."""
    groups = [("Dinas", agencies()), ("Utilitas", sorted(((c, u["name"]) for c, u in routing.utilities().items()),
                                                         key=lambda pair: pair[1]))]
    # The kota itself is no target: a handoff goes to a kecamatan or a kelurahan.
    return groups + [(kota, [(c, n) for c, n in options if c.count(".") >= 2]) for kota, options in areas()]


def handoff_reasons() -> list[tuple[str, str]]:
    """The configured handoff reasons as (code, Indonesian words)."""
    return [(code, handoff.reason_label(code)) for code in handoff.reasons()]


def category_words(code: str | None) -> str:
    """A category's label ("?" when the ticket has none yet)."""
    return context.taxonomy().label(code, "id") if code else "?"


def area_words(kelurahan: str | None, kecamatan: str | None = None, kab_kota: str | None = None) -> str:
    """Areas by name: "Kel. Kebon Sirih, Kec. Menteng, Jakarta Pusat" ("-" when none is known)."""
    return gazetteer().name_of(kelurahan, kecamatan, kab_kota) or "-"


def place_words(place_text: str | None, area: str) -> str:
    """What the citizen wrote of the place, when it says more than the area's name ("" otherwise)."""
    return street(place_text, area) or ""


def areas() -> list[tuple[str, list[tuple[str, str]]]]:
    """The area filter's choices: per kota, the kota itself, its kecamatan and their kelurahan, as (code, name)."""
    gaz = gazetteer()
    groups = []
    for kota in sorted((a for a in gaz.areas.values() if a.level == "kab_kota"), key=lambda a: a.kode):
        options = [(kota.kode, f"Seluruh {short_name(kota)}")]
        for kec in sorted((a for a in gaz.areas.values() if a.level == "kecamatan" and a.kab_kota_kode == kota.kode),
                          key=lambda a: a.nama):
            options.append((kec.kode, f"Kec. {kec.nama}"))
            options += [(kel.kode, f"\u00a0\u00a0Kel. {kel.nama}") for kel in sorted(
                (a for a in gaz.kelurahan if a.kecamatan_kode == kec.kode), key=lambda a: a.nama)]
        groups.append((short_name(kota), options))
    return groups


def actor_words(actor: str | None, names: Mapping[int, str]) -> str:
    """An event's actor in words: an officer's name, "warga", "sistem", "Waze"."""
    kind, _, ident = (actor or "").partition(":")
    if kind in ("officer", "web"):
        return names.get(int(ident), f"petugas #{ident}") if ident.isdigit() else "petugas"
    return ACTOR_WORDS.get(kind, kind or "sistem")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _status_detail(data: Mapping[str, Any]) -> list[str]:
    parts = []
    note = _text(data.get("note"))
    if note.startswith("→ ") and note[2:].strip() in routing.agency_codes():  # router.crop's reassignment note
        note = f"dialihkan ke {agency_words(note[2:].strip())}"
    if note:
        parts.append(note)
    if data.get("photo"):
        parts.append("dengan foto hasil")
    return parts


def _detail(kind: str, data: Mapping[str, Any]) -> list[str]:
    """The parts of an event's data worth reading, by kind."""
    if kind == "status":
        return _status_detail(data)
    if kind == "created":
        parts = [f"kategori {category_words(data['category'])}"] if data.get("category") else []
        return parts + (["dari peringatan Waze"] if data.get("category_source") == "waze" else [])
    if kind in ("citizen_comment", "citizen_attachment"):
        parts = [_text(data.get("text"))] if _text(data.get("text")) else []
        parts += ["foto"] if data.get("photo") else []
        return parts + (["titik lokasi"] if data.get("lat") is not None else [])
    if kind in ("category_confirmed", "recategorised"):
        return [f"{category_words(data.get('from'))} → {category_words(data.get('to'))}"]
    if kind == "merged":
        return [f"dari tiket {_text(data.get('ticket'))}"] if data.get("ticket") else []
    if kind == "refused":
        verb = _text(data.get("action"))
        return [f"tindakan: {ACTIONS.get(verb, verb)}"] if verb else []
    if kind.startswith("question"):
        asked = _text(data.get("question"))
        return [QUESTION_WORDS.get(asked, asked)] if asked else []
    if kind == "handoff":  # the public line, and what the officer added (officers only)
        where = f"ke {_text(data.get('to_name'))} ({_text(data.get('reason_label'))})" if data.get("to_name") \
            else _text(data.get("note"))
        return [where, _text(data.get("words"))]
    if kind == "place_set":
        return [_text(data.get("place"))] if data.get("place") else []
    if kind == "sla_breach":
        hours = data.get("hours")
        return [f"tingkat {_text(data.get('level'))}"
                + (f", setelah {hours:.1f} jam" if isinstance(hours, (int, float)) else "")]
    if kind in ("corroborated", "waze_updated", "waze_gone"):
        return [f"skor {_text(data.get('score'))}/25"] if data.get("score") is not None else []
    # An event kind this page does not know yet: whatever note or text it carries.
    return [t for t in (_text(data.get("note")), _text(data.get("text"))) if t]


def event(kind: str | None, data: Any) -> Event:
    """A ticket event in words; any kind or data shape reads as something, never an error."""
    kind = kind or ""
    data = data if isinstance(data, Mapping) else {}
    if kind == "status":
        before, after = _text(data.get("from")) or None, _text(data.get("to")) or None
        what = f"Status: {status_words(before)} → {status_words(after)}"
    else:
        what = EVENT_WORDS.get(kind) or f"Peristiwa lain ({kind.replace('_', ' ') or 'tanpa nama'})"
    try:
        detail = "; ".join(p for p in _detail(kind, data) if p)
    except (TypeError, ValueError, KeyError):  # data of an older or newer shape: the line still reads
        detail = ""
    return Event(what, detail)
