"""Supervisors' statistics: medians and p90s, SLA breach shares, the minimum-count guard, ranking, trends, CSV."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, update

from store import db, ops
from store.models import Citizen, Ticket
from web import stats

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SINCE, UNTIL = NOW - timedelta(days=30), NOW
H = timedelta(hours=1)
# Real codes, so names come from the gazetteer: three kelurahan of Tebet and one of Setiabudi.
TEBET, SETIABUDI = "31.74.01", "31.74.02"
KA, KB, KC, KD = "31.74.01.1001", "31.74.01.1002", "31.74.01.1003", "31.74.02.1001"


def _file(rows: list[dict[str, Any]]) -> None:
    """File tickets; every row carries every column (an executemany takes its columns from the first row)."""
    with db.session() as s:
        [cid] = ops.upsert_citizens(s, [{"channel": "t", "external_id": "1", "display_name": None, "username": None,
                                          "language": None}]).values()
        base = {"citizen_id": cid, "channel": "t", "text": "", "language": "id", "reply_address": {},
                "category": "garbage", "status": "open", "kelurahan_kode": None, "kecamatan_kode": None,
                "agency": None, "created_at": NOW - 20 * 24 * H, "first_response_at": None, "resolved_at": None}
        ops.create_tickets(s, "JKT", [{**base, **r} for r in rows])


def _ticket(kel: str | None, agency: str | None, created: datetime, response_h: float | None = None,
            resolution_h: float | None = None, **extra: Any) -> dict[str, Any]:
    kec = kel.rsplit(".", 1)[0] if kel else None
    return {"kelurahan_kode": kel, "kecamatan_kode": kec, "agency": agency, "created_at": created,
            "first_response_at": created + response_h * H if response_h is not None else None,
            "resolved_at": created + resolution_h * H if resolution_h is not None else None,
            "status": "resolved" if resolution_h is not None else "open", **extra}


@pytest.fixture
def areas(hub: str) -> None:
    """Four kelurahan:
    KA (dsda), 13 tickets: ten garbage answered after 1..10 h and resolved after 10..100 h (three past the
       72 h target), an open garbage ticket past its 24 h response target, an open flood ticket an hour old
       (inside its 2 h target), a duplicate; plus tickets that must not count (not_report, outside the period).
    KB (dlh), 10 garbage tickets answered after 1 h, resolved after 5 h: no breach.
    KC (dsda), 10 flood tickets resolved after 5 h, one answered after 3 h (flood's target is 2 h).
    KD (an agency nobody configured), 3 tickets resolved after 1 h: the best times, too few to rank."""
    old = NOW - 20 * 24 * H
    rows = [_ticket(KA, "dsda", old, i, 10 * i) for i in range(1, 11)]
    rows += [_ticket(KA, "dsda", NOW - 5 * 24 * H),
             _ticket(KA, "dsda", NOW - H, category="flood"),
             _ticket(KA, "dsda", NOW - 10 * 24 * H, status="duplicate"),
             _ticket(KA, "dsda", old, 1, 500, category="not_report"),
             _ticket(KA, "dsda", SINCE - H, 1, 500),
             _ticket(KA, "dsda", UNTIL, 1, 500),  # the period's end is exclusive
             _ticket(None, "dsda", old, 1, 500)]  # no place: skipped at area levels
    rows += [_ticket(KB, "dlh", old, 1, 5) for _ in range(10)]
    rows += [_ticket(KC, "dsda", old, 3 if i == 0 else 1, 5, category="flood") for i in range(10)]
    rows += [_ticket(KD, "xyz", old, 0.5, 1) for _ in range(3)]
    _file(rows)


def _by_code(rows: list[stats.AreaStats]) -> dict[str, stats.AreaStats]:
    return {r.code: r for r in rows}


def test_medians_p90s_counts_and_breach_share(areas: None) -> None:
    with db.session() as s:
        a = _by_code(stats.area_stats(s, "kelurahan", SINCE, UNTIL, now=NOW))[KA]
    assert (a.level, a.name, a.tickets, a.open, a.closed) == ("kelurahan", "Tebet Timur", 13, 2, 11)
    assert a.first_response_median_h == pytest.approx(5.5)
    assert a.first_response_p90_h == pytest.approx(9.1)  # inclusive: between the 9th (9 h) and 10th (10 h)
    assert a.resolution_median_h == pytest.approx(55.0)
    assert a.resolution_p90_h == pytest.approx(91.0)
    # 80, 90, 100 h resolutions and the unanswered garbage ticket; not the young flood ticket nor the duplicate.
    assert a.sla_breach_share == pytest.approx(4 / 12)


def test_late_first_response_is_a_breach(areas: None) -> None:
    with db.session() as s:
        by_code = _by_code(stats.area_stats(s, "kelurahan", SINCE, UNTIL, now=NOW))
    assert by_code[KC].sla_breach_share == pytest.approx(0.1)
    assert by_code[KB].sla_breach_share == 0


def test_an_unresolved_ticket_breaches_once_now_passes_its_deadline(areas: None) -> None:
    with db.session() as s:
        # Two hours on, the flood ticket is 3 h old and still unanswered: past its 2 h response target.
        later = _by_code(stats.area_stats(s, "kelurahan", SINCE, UNTIL, now=NOW + 2 * H))[KA]
    assert later.sla_breach_share == pytest.approx(5 / 12)


def test_ranking_and_the_minimum_count_guard(areas: None) -> None:
    with db.session() as s:
        rows = stats.area_stats(s, "kelurahan", SINCE, UNTIL, now=NOW)
    # KB and KC tie on a 5 h median: KB breaches less. KD resolves fastest but has 3 tickets: listed, unranked, last.
    assert [(r.code, r.rank) for r in rows] == [(KB, 1), (KC, 2), (KA, 3), (KD, None)]
    with db.session() as s:
        rows = stats.area_stats(s, "kelurahan", SINCE, UNTIL, min_count=3, now=NOW)
    assert [(r.code, r.rank) for r in rows] == [(KD, 1), (KB, 2), (KC, 3), (KA, 4)]


def test_kecamatan_and_agency_levels_use_names(areas: None) -> None:
    with db.session() as s:
        kecamatan = stats.area_stats(s, "kecamatan", SINCE, UNTIL, now=NOW)
        agencies = stats.area_stats(s, "agency", SINCE, UNTIL, now=NOW)
    assert [(r.code, r.name, r.tickets, r.rank) for r in kecamatan] == [
        (TEBET, "Tebet", 33, 1), (SETIABUDI, "Setiabudi", 3, None)]
    assert [(r.code, r.name, r.tickets, r.rank) for r in agencies] == [
        ("dlh", "Dinas Lingkungan Hidup", 10, 1), ("dsda", "Dinas Sumber Daya Air", 24, 2),
        ("xyz", "xyz", 3, None)]  # an unknown agency is shown by its code
    with pytest.raises(ValueError), db.session() as s:
        stats.area_stats(s, "kota", SINCE, UNTIL)


def test_trending(hub: str) -> None:
    def at(category: str, days_ago: list[float]) -> list[dict[str, Any]]:
        return [_ticket(None, None, NOW - d * 24 * H, category=category) for d in days_ago]

    _file(at("flood", [1, 2, 3, 4]) + at("flood", [8, 10, 15, 20, 25, 30, 33, 34])  # 4/7 a day, was 8/28: doubled
          + at("garbage", [1, 2]) + at("garbage", [9, 12, 16, 19, 22, 26, 29, 31])  # steady
          + at("tree", [8, 9, 10, 11, 12])  # nothing recent
          + at("traffic", [0.5])  # new
          + at("not_report", [1, 1, 1, 1, 1, 1]) + at("flood", [36]))  # not a report; before the windows
    with db.session() as s:
        trends = stats.trending(s, NOW)
        top = stats.trending(s, NOW, limit=2)
    assert [(t.category, t.recent, t.before) for t in trends] == [("traffic", 1, 0), ("flood", 4, 8), ("garbage", 2, 8)]
    assert trends[0].change is None
    assert trends[1].change == pytest.approx(2.0) and trends[2].change == pytest.approx(1.0)
    assert [t.category for t in top] == ["traffic", "flood"]


def test_csv(areas: None) -> None:
    with db.session() as s:
        text = stats.to_csv(stats.area_stats(s, "kelurahan", SINCE, UNTIL, now=NOW))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["level", "code", "name", "tickets", "open", "closed", "first_response_median_h",
                       "first_response_p90_h", "resolution_median_h", "resolution_p90_h", "sla_breach_share", "rank"]
    assert rows[3] == ["kelurahan", KA, "Tebet Timur", "13", "2", "11", "5.5", "9.1", "55.0", "91.0", "0.333", "3"]
    assert rows[4][-1] == "" and len(rows) == 5


# --- issue 20: ranking by each figure, trending places, opted-in reporters -----------------------------------------

def test_each_figure_ranks_on_its_own_and_small_samples_stay_unranked(hub: str) -> None:
    """X answers fast and resolves slowly, Y the reverse, Z misses the 72 h garbage target every time; W is fastest
    at everything with two reports: listed after the ranked ones, never ranked."""
    old = NOW - 20 * 24 * H
    x, y, z, w = KA, KB, KC, KD
    _file([_ticket(x, "dsda", old, 1, 50) for _ in range(3)] + [_ticket(y, "dsda", old, 10, 5) for _ in range(3)]
          + [_ticket(z, "dsda", old, 2, 80) for _ in range(3)] + [_ticket(w, "dsda", old, 0.1, 0.2) for _ in range(2)])
    with db.session() as s:
        def order(by: str) -> list[tuple[str, int | None]]:
            return [(r.code, r.rank) for r in stats.area_stats(s, "kelurahan", SINCE, UNTIL, 3, now=NOW, by=by)]

        assert order("resolution") == [(y, 1), (x, 2), (z, 3), (w, None)]
        assert order("response") == [(x, 1), (z, 2), (y, 3), (w, None)]
        assert order("breaches") == [(y, 1), (x, 2), (z, 3), (w, None)]  # X and Y never breach: resolution decides
        by_code = _by_code(stats.area_stats(s, "kelurahan", SINCE, UNTIL, 3, now=NOW))
        with pytest.raises(ValueError):
            stats.area_stats(s, "kelurahan", SINCE, UNTIL, by="fastest")
    assert by_code[x].first_response_median_h == pytest.approx(1.0) and by_code[y].resolution_median_h == 5.0
    assert by_code[z].sla_breach_share == 1.0 and by_code[x].sla_breach_share == 0.0


def test_trending_places_need_enough_reports_this_week(hub: str) -> None:
    def at(kel: str, days_ago: list[float]) -> list[dict[str, Any]]:
        return [_ticket(kel, None, NOW - d * 24 * H) for d in days_ago]

    _file(at(KA, [1, 2, 3, 4, 5, 6]) + at(KA, [10, 20])  # Tebet: 6 this week (and KB's 3), 2 before
          + at(KB, [1, 2, 3])
          + at(KD, [1, 2]) + at(KD, [])  # Setiabudi: only 2 this week, new: not enough to trend
          + at(KC, [8, 9]))  # Tebet again, before this week only
    with db.session() as s:
        places = stats.trending_places(s, NOW)
        kelurahan = stats.trending_places(s, NOW, "kelurahan", min_recent=2)
        anything = stats.trending_places(s, NOW, min_recent=1)
        with pytest.raises(ValueError):
            stats.trending_places(s, NOW, "kota")
    assert [(p.code, p.name, p.recent, p.before) for p in places] == [(TEBET, "Tebet", 9, 4)]
    assert places[0].change == pytest.approx((9 / 7) / (4 / 28))
    assert [(p.code, p.recent) for p in kelurahan] == [(KB, 3), (KD, 2), (KA, 6)]  # new ones first, then the rise
    assert [p.code for p in anything] == [SETIABUDI, TEBET]


def test_top_reporters_are_only_those_with_an_alias(hub: str) -> None:
    _file([_ticket(KA, None, NOW - d * 24 * H) for d in (1, 2, 3)])
    with db.session() as s:
        tickets = s.scalars(select(Ticket).order_by(Ticket.id)).all()
        people = ops.upsert_citizens(s, [{"channel": "t", "external_id": e, "display_name": n, "username": None,
                                          "language": None} for e, n in (("a", "Ani"), ("b", "Budi"), ("c", "Citra"))])
        ani, budi, citra = people.values()
        s.execute(update(Citizen).where(Citizen.id == ani).values(public_alias="Pejuang Got"))
        s.execute(update(Citizen).where(Citizen.id == citra).values(public_alias="citra_lapor"))
        joined = [(t, ani) for t in tickets] + [(t, budi) for t in tickets] + [(tickets[0], citra)]
        ops.add_reporters(s, [{"ticket_id": t.id, "citizen_id": c, "reply_address": {}, "language": "id",
                               "joined_at": t.created_at} for t, c in joined])
        s.commit()
    with db.session() as s:
        top = stats.top_reporters(s, SINCE, NOW + H)
        assert stats.top_reporters(s, SINCE, NOW + H, limit=1) == [stats.Reporter("Pejuang Got", 3)]
        assert stats.top_reporters(s, NOW + H, NOW + 2 * H) == []  # joined before the period
    assert top == [stats.Reporter("Pejuang Got", 3), stats.Reporter("citra_lapor", 1)]  # Budi chose no alias
