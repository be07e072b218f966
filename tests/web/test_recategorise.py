"""The dashboard's category field, over real HTTP on SQLite and PostgreSQL: an officer re-categorises a ticket,
which re-routes it to the new category's agency, records it, stores the example and tells the citizen."""
from __future__ import annotations

import pytest
import redis
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from store import db
from store.models import Example, Outbox, Ticket, TicketEvent
from tests.web.conftest import CITIZEN, csrf_of, login, report, ticket
from tests.web.test_dashboard import client, visible

pytestmark = pytest.mark.usefixtures("hub")
__all__ = ["client"]


@pytest.fixture
def flood(hub: str, redis_conn: redis.Redis) -> Ticket:
    report(redis_conn, "tg-1", "banjir 50 cm di jl jatinegara barat, hub 0812-3456-7890", -6.2245, 106.8660)
    return ticket("flood")


async def test_the_category_field_recategorises_and_reroutes(client: TestClient, flood: Ticket) -> None:
    await login(client)
    path = f"/crop/tickets/{flood.public_id}"
    page = await (await client.get(path)).text()
    assert 'name="category"' in page and "Ubah kategori" in page
    csrf = await csrf_of(client, path)
    refused = await client.post(f"{path}/act", data={"action": "recategorise", "category": "garbage", "csrf": "x"})
    assert refused.status == 403 and ticket("flood").agency == "dsda"
    # No category chosen: nothing changes, the officer is told what to do.
    unchosen = await client.post(f"{path}/act", data={"action": "recategorise", "category": "", "csrf": csrf})
    assert unchosen.status == 422 and ticket("flood").agency == "dsda"
    page = await (await client.post(f"{path}/act", data={"action": "recategorise", "category": "garbage",
                                                         "csrf": csrf})).text()
    with db.session() as s:
        t = s.get_one(Ticket, flood.id)
        assert (t.category, t.agency) == ("garbage", "dlh")
        [event] = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id,
                                                      TicketEvent.kind == "recategorised")).all()
        assert (event.data["from"], event.data["to"], event.data["agency"]) == ("flood", "garbage", "dlh")
        [example] = s.scalars(select(Example)).all()
        assert (example.category, example.source, example.predicted) == ("garbage", "officer", "flood")
        assert example.officer_id is not None and "0812" not in example.text and "[telepon]" in example.text
        told = [o.text for o in s.scalars(select(Outbox).where(Outbox.ticket_id == t.id,
                                                               Outbox.chat_key.endswith(f":{CITIZEN.id}")))]
    assert any(f"Laporan {flood.public_id} dipindahkan ke kategori Sampah (Dinas Lingkungan Hidup)." in m for m in told)
    assert "Kategori diubah petugas" in visible(page)
