"""The ticket lifecycle: allowed changes, the audit trail, and an update to every reporter."""
from __future__ import annotations

import pytest

from router import lifecycle, replies
from router.lifecycle import TransitionError
from store import db, ops
from store.models import Outbox, Ticket
from sqlalchemy import select


def _ticket(session, reporters: int = 2) -> Ticket:
    ids = ops.upsert_citizens(session, [{"channel": "telegram", "external_id": str(100 + i), "display_name": None,
                                         "username": None, "language": None} for i in range(reporters)])
    address = lambda i: {"channel": "telegram", "chat_id": str(100 + i), "bot": None, "reply_to": None}  # noqa: E731
    [(ticket_id, _)] = ops.create_tickets(session, "JKT", [{
        "citizen_id": ids[("telegram", "100")], "channel": "telegram", "text": "banjir", "language": "id",
        "category": "flood", "agency": "dsda", "reply_address": address(0)}])
    ops.add_reporters(session, [{"ticket_id": ticket_id, "citizen_id": ids[("telegram", str(100 + i))],
                                 "reply_address": address(i), "language": "id" if i == 0 else "en"}
                                for i in range(reporters)])
    return session.get(Ticket, ticket_id)


def test_a_ticket_goes_from_open_to_closed_with_an_event_and_updates_each_step(hub: str) -> None:
    with db.session() as s:
        t = _ticket(s)
        rows = lifecycle.change(s, t, "assigned", "officer:7", officer_id=None)
        assert [r.chat_key for r in rows] == ["telegram::100", "telegram::101"]
        assert "Dinas Sumber Daya Air" in rows[0].text and rows[1].text.startswith(f"Ticket {t.public_id}")
        rows += lifecycle.change(s, t, "in_progress", "officer:7", note="pompa dikirim")
        assert "pompa dikirim" in rows[-2].text
        rows += lifecycle.change(s, t, "resolved", "officer:7", photo="PHOTO-1")
        assert rows[-1].photo == "PHOTO-1"
        assert [b.value for b in rows[-1].buttons[0]] == [f"/beres {t.public_id}", f"/belum {t.public_id}"]
        assert t.resolved_at and t.resolution_photo_file_id == "PHOTO-1" and t.first_response_at
        rows += lifecycle.change(s, t, "closed", "citizen:1")
        assert t.closed_at is not None
        replies.store(s, rows)
        events = [(e.kind, e.actor, e.data["from"], e.data["to"]) for e in ops.events_of(s, t.id)]
        assert events == [("status", "officer:7", "open", "assigned"), ("status", "officer:7", "assigned", "in_progress"),
                          ("status", "officer:7", "in_progress", "resolved"), ("status", "citizen:1", "resolved", "closed")]
        stored = s.scalars(select(Outbox).order_by(Outbox.id)).all()
        assert len(stored) == 8 and stored[5].extras["photo"] == "PHOTO-1"


def test_changes_the_lifecycle_does_not_allow_are_refused(hub: str) -> None:
    with db.session() as s:
        t = _ticket(s, reporters=1)
        with pytest.raises(TransitionError, match="cannot become closed"):
            lifecycle.change(s, t, "closed", "officer:7")
        assert t.status == "open" and ops.events_of(s, t.id) == []
        lifecycle.change(s, t, "duplicate", "router")
        for to in lifecycle.STATUSES:
            assert not lifecycle.can_change("duplicate", to)


def test_a_reopened_ticket_forgets_its_resolution_time(hub: str) -> None:
    with db.session() as s:
        t = _ticket(s, reporters=1)
        lifecycle.change(s, t, "resolved", "officer:7", photo="P")
        rows = lifecycle.change(s, t, "reopened", "citizen:1", note="masih banjir")
        assert t.resolved_at is None and "masih banjir" in rows[0].text
        assert lifecycle.can_change("reopened", "assigned")


def test_the_transition_table_names_only_known_statuses() -> None:
    assert set(lifecycle.TRANSITIONS) == set(lifecycle.STATUSES)
    assert all(to in lifecycle.STATUSES for targets in lifecycle.TRANSITIONS.values() for to in targets)
