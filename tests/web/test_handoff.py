"""A supervisor hands a ticket to another kelurahan from the dashboard's ticket page, over real HTTP, on SQLite and
PostgreSQL: the form offers areas, agencies and utilities and the configured reasons; the new area's officer gets the
card, the citizen is told, the SLA clock is untouched, and the timeline says where it went and why."""
from __future__ import annotations

import re
from html import unescape

import pytest
import redis
from sqlalchemy import select

from store import db
from store import officers as roster
from store.models import Outbox, TicketEvent
from tests.web.conftest import csrf_of, login, report, ticket
from tests.web.test_dashboard import client, visible  # noqa: F401  (client: the app with Budi and Sari)

pytestmark = pytest.mark.usefixtures("hub")

KEBON_JERUK = "31.73.05.1001"  # Kel. Kebon Jeruk, Jakarta Barat: far from the flood in Jatinegara
DEWI = "7103"  # Kebon Jeruk's SDA officer (Telegram id)


@pytest.fixture
def flood(client: object, redis_conn: redis.Redis) -> None:  # noqa: F811
    """Dewi covers SDA work in Kebon Jeruk; a flood in Jatinegara is filed and sent to Budi (Jakarta Timur, SDA)."""
    with db.session() as s:
        roster.add(s, {"name": "Dewi PPSU", "telegram_id": DEWI, "role": "petugas", "areas": [KEBON_JERUK],
                       "agencies": ["dsda"]})
    report(redis_conn, "tg-1", "banjir 50 cm di jl jatinegara barat", -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)


@pytest.mark.usefixtures("flood")
async def test_a_supervisor_hands_a_ticket_to_another_kelurahan_and_the_clock_keeps_running(client) -> None:  # noqa: F811
    before = ticket("flood")
    assert before.status == "assigned" and before.sla_started_at is not None
    await login(client, username="sari")
    path = f"/crop/tickets/{before.public_id}"
    page = await (await client.get(path)).text()
    form = page.split('class="act"')[1].split("</form>")[0]
    assert '<optgroup label="Utilitas">' in form and '<option value="pln">PLN (listrik)</option>' in form
    assert f'<option value="{KEBON_JERUK}">' in form and '<option value="31.73.05">Kec. Kebon Jeruk</option>' in form
    assert '<option value="31.73">' not in form  # a whole kota is no target
    assert '<option value="bukan_wilayah">bukan wilayah kami</option>' in form
    due = page.split('data-due="')[1].split('"')[0]  # the SLA countdown's deadline
    csrf = await csrf_of(client, path)

    # Without a reason: refused, the reasons listed, the chosen target still chosen.
    refused = await client.post(f"{path}/act", data={"action": "reassign", "target": KEBON_JERUK, "csrf": csrf})
    text = unescape(await refused.text())
    assert refused.status == 422 and "Pilih alasan pengalihan, lalu kirim lagi." in text
    assert f'<option value="{KEBON_JERUK}" selected>' in text
    assert ticket("flood").holder_area is None

    done = await client.post(f"{path}/act", data={"action": "reassign", "target": KEBON_JERUK, "reason": "bukan_wilayah",
                                                  "note": "alamat sebenarnya di Kebon Jeruk", "csrf": csrf},
                             allow_redirects=False)
    assert done.status == 303
    after = ticket("flood")
    assert (after.holder_area, after.status, after.agency) == (KEBON_JERUK, "assigned", "dsda")
    assert after.sla_started_at == before.sla_started_at and after.first_response_at is None
    page = await (await client.get(path)).text()
    shown = re.sub(r" ([:;])", r"\1", " ".join(visible(page).split()))
    assert f"Tiket {before.public_id} dialihkan ke Kelurahan Kebon Jeruk (bukan wilayah kami)." in shown
    assert "Dipegang Dinas Sumber Daya Air — Kelurahan Kebon Jeruk" in shown
    assert "Dialihkan · Sari: ke Kelurahan Kebon Jeruk (bukan wilayah kami); alamat sebenarnya di Kebon Jeruk" in shown
    assert page.split('data-due="')[1].split('"')[0] == due  # the deadline did not move
    with db.session() as s:
        sent = {(o.chat_key.rsplit(":", 1)[-1], o.text.split("\n")[0]) for o in s.scalars(
            select(Outbox).where(Outbox.ticket_id == after.id))}
        [event] = s.scalars(select(TicketEvent).where(TicketEvent.kind == "handoff")).all()
    assert (DEWI, "↪️ Dialihkan dari Dinas Sumber Daya Air: bukan wilayah kami. Catatan: \"alamat sebenarnya di "
                  "Kebon Jeruk\". Batas waktu SLA tetap dihitung sejak laporan pertama kali diteruskan.") in sent
    assert ("5550001", f"Tiket {before.public_id}: laporan Anda dialihkan ke Kelurahan Kebon Jeruk (alasan: bukan "
                       "wilayah kami). Batas waktu penanganannya tidak berubah.") in sent
    assert event.data["note"] == "Dialihkan ke Kelurahan Kebon Jeruk: bukan wilayah kami"
    # The public ticket page tells why it moved, naming no officer.
    public = " ".join(visible(await (await client.get(f"/t/{before.public_id}")).text()).split())
    assert re.search(r"Dialihkan\W+(ke )?Kelurahan Kebon Jeruk\W+(alasan: )?bukan wilayah kami", public), public
    assert "Sari" not in public and "Budi" not in public and "Dewi" not in public


@pytest.mark.usefixtures("flood")
async def test_an_officer_hands_off_only_what_they_cover(client) -> None:  # noqa: F811
    garbage = ticket("garbage")  # the environment agency's: Budi (water) does not cover it
    await login(client)
    path = f"/crop/tickets/{garbage.public_id}"
    csrf = await csrf_of(client, path)
    refused = await client.post(f"{path}/act", data={"action": "reassign", "target": "pln", "reason": "aset_utilitas",
                                                     "csrf": csrf})
    assert refused.status == 422 and "tidak berwenang" in visible(await refused.text())
    assert ticket("garbage").agency == garbage.agency
    # His own flood he may hand to a utility; nobody at PLN is reachable here (no liaison, no chat): it waits open.
    flood = ticket("flood")
    done = await client.post(f"/crop/tickets/{flood.public_id}/act", data={
        "action": "reassign", "target": "pln", "reason": "aset_utilitas", "csrf": csrf}, allow_redirects=False)
    assert done.status == 303 and (ticket("flood").agency, ticket("flood").status) == ("pln", "open")
