"""Which active ticket a new report joins: same category, within the category's radius and window."""
from __future__ import annotations

from datetime import timedelta

import pytest

from router import duplicates
from store import db, ops
from store.models import utcnow

A = (-6.225014, 106.900447)


def test_distance() -> None:
    assert duplicates.distance_m(*A, *A) == 0
    assert 220 < duplicates.distance_m(*A, -6.2268, 106.9015) < 240
    assert 110_000 < duplicates.distance_m(0, 0, 1, 0) < 111_500


@pytest.fixture
def tickets(hub: str) -> dict[str, int]:
    """Tickets around A: a flood 300 m away, an old flood, a closed flood, a garbage pile, a text-placed flood."""
    now = utcnow()
    with db.session() as s:
        [cid] = ops.upsert_citizens(s, [{"channel": "t", "external_id": "1", "display_name": None, "username": None,
                                          "language": None}]).values()
        base = {"citizen_id": cid, "channel": "t", "text": "", "language": "id", "reply_address": {},
                "geocode_source": "point", "category": "flood", "status": "open"}
        rows = {"near": {"lat": A[0] + 0.0027, "lon": A[1]},
                "old": {"lat": A[0], "lon": A[1], "created_at": now - timedelta(hours=30)},
                "closed": {"lat": A[0], "lon": A[1], "status": "closed"},
                "garbage": {"lat": A[0], "lon": A[1], "category": "garbage"},
                "centroid": {"lat": A[0], "lon": A[1], "geocode_source": "text:kelurahan"}}
        made = ops.create_tickets(s, "JKT", [{**base, **r} for r in rows.values()])
        return {name: ticket_id for name, (ticket_id, _) in zip(rows, made)}


def test_a_report_joins_the_nearest_joinable_ticket_of_its_category(tickets: dict[str, int]) -> None:
    with db.session() as s:
        assert duplicates.find(s, "flood", *A, "point").id == tickets["near"]  # 300 m: inside flood's 500 m
        assert duplicates.find(s, "garbage", *A, "point").id == tickets["garbage"]
        assert duplicates.find(s, "garbage", A[0] + 0.0027, A[1], "point") is None  # garbage's radius is 150 m
        assert duplicates.find(s, "tree", *A, "point") is None
        assert duplicates.find(s, "flood", *A, "text:kelurahan") is None  # an area centre is not a place
        assert duplicates.find(s, None, *A, "point") is None
