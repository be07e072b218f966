"""The officer's side of a citizen channel's whole conversation (WhatsApp, Messenger, SMS): an officer in Telegram
(the fake Bot API) who covers the ticket's area, every queue worked in this process, and the officer resolving a
ticket by replying to its card with a photo of the result."""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from typing import Any, Iterator

import redis
from rq import Queue, SimpleWorker

from bots import registry
from bots.telegram.parse import bot_id_of
from bots.telegram.poll import Poller
from hub.settings import RoutingSettings
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from router import context
from router.context import RouterConfig
from store import db
from store import officers as roster
from tests.fakes.telegram_api import FakeBotAPI

OFFICER = {"id": 88120001, "is_bot": False, "first_name": "Budi", "language_code": "id"}
_ids = itertools.count(710_000_000)


def add_officer(areas: list[str], agencies: list[str]) -> None:
    """Budi (PPSU) on the roster, known by his Telegram id, covering `areas` for `agencies`."""
    with db.session() as s:
        roster.add(s, {"name": "Budi (PPSU)", "telegram_id": str(OFFICER["id"]), "role": "petugas",
                       "areas": areas, "agencies": agencies})


@contextmanager
def wired(db_url: str, conn: redis.Redis, fake_api: FakeBotAPI, senders: dict[str, Any], areas: list[str],
          agencies: list[str]) -> Iterator[None]:
    """This process as a worker answering on `senders`' channels (Telegram among them), the shipped routing, and
    the officer covering `areas` for `agencies`; the senders are forgotten afterwards."""
    db.configure(db_url)
    routing = RoutingSettings().model_dump(mode="json", exclude={"officers"})
    context.configure(RouterConfig(retry_intervals=[1, 2], routing=routing, telegram_bot=bot_id_of(fake_api.token)),
                      conn)
    registry.configure(senders)
    add_officer(areas, agencies)
    try:
        yield
    finally:
        registry.configure({})


def work(conn: redis.Redis) -> None:
    """Run every queued intake, pipeline, officers' and outbox job in this process."""
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)]
    SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")


async def officer_resolves(api: FakeBotAPI, config: dict[str, Any], conn: redis.Redis, public_id: str,
                           caption: str = "selesai, sudah ditangani") -> None:
    """The officer replies to the ticket's latest card in Telegram with a photo of the result."""
    card = [m for m in api.sent if str(m["chat_id"]) == str(OFFICER["id"]) and public_id in (m.get("text") or "")][-1]
    update_id = next(_ids)
    api.push({"update_id": update_id, "message": {
        "message_id": update_id % 100_000, "from": OFFICER, "date": 1764036000, "caption": caption,
        "photo": [{"file_id": f"after-{update_id}", "file_unique_id": f"a{update_id}", "width": 10, "height": 10}],
        "chat": {"id": OFFICER["id"], "type": "private", "first_name": OFFICER["first_name"]},
        "reply_to_message": {"message_id": card["message"]["message_id"], "date": 1764036000,
                             "chat": {"id": OFFICER["id"], "type": "private"}, "text": "..."}}})
    poller = Poller(config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)))
    await poller.start()
    await poller.poll_once()
    await poller.bot.shutdown()
    work(conn)
