"""A city's own taxonomy (nlp.categories_file) is the one the web reads too: a category it adds is offered and
accepted by Open311 and shown in the dashboard's filters and ticket pages, on SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
import redis
import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from nlp.rules import DEFAULT_TAXONOMY
from router import context
from router.context import RouterConfig
from store import db
from store.models import Ticket
from tests.web.conftest import work
from tests.web.test_open311 import KEY, client  # noqa: F401 (the Open311 app, a fixture)
from web import dashboard, labels

pytestmark = pytest.mark.usefixtures("hub")


@pytest.fixture(autouse=True)
def city_taxonomy(hub: str, tmp_path: Path, redis_conn: redis.Redis) -> Path:
    """The packaged taxonomy with one category more (graffiti, before "other"), configured as the city's."""
    data = yaml.safe_load(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))
    at = next(i for i, c in enumerate(data["categories"]) if c["name"] == "other")
    data["categories"].insert(at, {"name": "graffiti", "label": {"id": "coretan / vandalisme", "en": "graffiti"},
                                   "keywords": ["coretan vandal"], "names": ["grafiti", "coretan"]})
    path = tmp_path / "categories.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    context.configure(RouterConfig(retry_intervals=[1, 2], categories_file=str(path)), redis_conn)
    return path


async def test_a_category_the_city_adds_is_offered_accepted_and_shown(client: TestClient,  # noqa: F811 (the fixture)
                                                                      redis_conn: redis.Redis) -> None:
    services = await (await client.get("/open311/v2/services.json")).json()
    assert "graffiti" in [s["service_code"] for s in services]
    definition = await client.get("/open311/v2/services/graffiti.json")
    assert definition.status == 200
    form = {"api_key": KEY, "service_code": "graffiti", "lat": "-6.233108", "long": "106.874512",
            "description": "Tembok halte penuh coretan pilox"}
    response = await client.post("/open311/v2/requests.json", data=form)
    assert response.status == 201, await response.text()
    work(redis_conn)
    with db.session() as s:
        [ticket] = s.scalars(select(Ticket)).all()
        assert ticket.category == "graffiti"
    assert ("graffiti", "coretan / vandalisme") in dashboard.choices()["categories"]
    assert labels.category_words("graffiti") == "coretan / vandalisme"
