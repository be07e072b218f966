"""Open311 GeoReport v2 over real HTTP (aiohttp's test server), on SQLite and PostgreSQL: responses validate
against the spec's schemas (tests/schemas/open311), XML is well-formed, nothing personal leaks, and a POST
files a ticket through the same pipeline as every channel."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator
from xml.etree import ElementTree as ET

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from rq import Queue
from sqlalchemy import select

from ingest.intake import INTAKE_QUEUE, Intake
from store import db
from store.models import Outbox, Ticket
from web import open311
from tests.web.conftest import report, work
from web.app import make_app

pytestmark = pytest.mark.usefixtures("hub")

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "open311"
KEY = "k3y-portal-0123456789"
# What a citizen typed and who they are: none of it may leave through the public API.
PERSONAL = ("Budi Santoso", "budisan", "5550001", "0812-3456-7890", "budi.s@example.com", "3175071234567890")


def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / f"{name}.json").read_text()),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture
async def client(hub: str, redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    app = make_app(lambda: {"redis": True})
    open311.setup(app, db.factory(), Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)),
                  open311.Config("jakarta.go.id", {KEY: "portal"}))
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
def reports(hub: str, redis_conn: redis.Redis) -> None:
    """Two citizens' reports: a flood with personal data and a script in it, and a garbage pile."""
    report(redis_conn, "tg-1", "banjir 50 cm di jl jatinegara barat <script>alert(1)</script> hubungi saya "
                               "0812-3456-7890 atau budi.s@example.com, NIK 3175071234567890", -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali, bau sekali", -6.2500, 106.8700)


async def get(client: TestClient, path: str, status: int = 200) -> Any:
    response = await client.get(f"/open311/v2/{path}")
    assert response.status == status, await response.text()
    return await response.json() if path.split("?")[0].endswith(".json") else await response.text()


async def test_services_and_a_service_definition(client: TestClient) -> None:
    services = await get(client, "services.json")
    assert not list(schema("services").iter_errors(services))
    codes = {s["service_code"] for s in services}
    assert {"flood", "garbage", "road_damage"} <= codes and "not_report" not in codes
    flood = next(s for s in services if s["service_code"] == "flood")
    assert flood["group"] == "Dinas Sumber Daya Air" and flood["metadata"] is False
    definition = await get(client, "services/flood.json")
    assert not list(schema("service_definition").iter_errors(definition))
    xml = ET.fromstring(await get(client, "services.xml"))
    assert xml.tag == "services" and xml.find("service/service_code") is not None
    errors = await get(client, "services/banjir.json", 404)
    assert not list(schema("errors").iter_errors(errors)) and "banjir" in errors[0]["description"]


@pytest.mark.usefixtures("reports")
async def test_requests_validate_and_leak_nothing_personal(client: TestClient) -> None:
    requests = await get(client, "requests.json")
    assert not list(schema("requests").iter_errors(requests))
    assert [r["service_code"] for r in requests] == ["garbage", "flood"]  # newest first
    flood = requests[1]
    assert flood["status"] == "open" and flood["agency_responsible"] == "Dinas Sumber Daya Air"
    assert flood["address"].startswith("Kampung Melayu") or "Jatinegara" in flood["address"]
    assert "[telepon]" in flood["description"] and "[email]" in flood["description"]
    raw = json.dumps(requests)
    assert not [p for p in PERSONAL if p in raw]
    # The script is data in the JSON (escaped by the browser's JSON parser), and text in the XML.
    xml_text = await get(client, "requests.xml")
    assert "<script>" not in xml_text and "&lt;script&gt;alert(1)&lt;/script&gt;" in xml_text
    assert not [p for p in PERSONAL if p in xml_text]
    root = ET.fromstring(xml_text.encode())
    assert root.tag == "service_requests" and len(root.findall("request")) == 2
    one = await get(client, f"requests/{flood['service_request_id']}.json")
    assert one == [flood]


@pytest.mark.usefixtures("reports")
async def test_request_filters(client: TestClient) -> None:
    flood_id = (await get(client, "requests.json?service_code=flood"))[0]["service_request_id"]
    assert [r["service_request_id"] for r in await get(client, f"requests.json?service_request_id={flood_id}")] == [flood_id]
    assert await get(client, "requests.json?status=closed") == []
    assert len(await get(client, "requests.json?status=open,closed")) == 2
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert await get(client, f"requests.json?start_date={later.replace('+', '%2B')}") == []
    assert len(await get(client, "requests.json?jurisdiction_id=jakarta.go.id")) == 2
    for query, status, words in [("status=pending", 400, "open or closed"), ("start_date=kemarin", 400, "W3C"),
                                 ("service_code=banjir", 400, "unknown service_code"),
                                 ("jurisdiction_id=bandung.go.id", 404, "not served here")]:
        errors = await get(client, f"requests.json?{query}", status)
        assert not list(schema("errors").iter_errors(errors)) and words in errors[0]["description"]
    assert await get(client, "requests/JKT-2026-999999.json", 404)
    xml = ET.fromstring((await get(client, "requests/JKT-2026-999999.xml", 404)).encode())
    assert xml.tag == "errors" and xml.findtext("error/code") == "404"


async def test_a_post_files_a_ticket_through_the_pipeline(client: TestClient, redis_conn: redis.Redis) -> None:
    form = {"api_key": KEY, "service_code": "road_damage", "lat": "-6.233108", "long": "106.874512",
            "description": "Lubang besar di tengah jalan, motor sering jatuh", "email": "budi.s@example.com",
            "first_name": "Budi", "last_name": "Santoso"}
    response = await client.post("/open311/v2/requests.json", data=form)
    assert response.status == 201
    answer = await response.json()
    assert not list(schema("post_response").iter_errors(answer))
    token = answer[0]["token"]
    # Until a worker has filed it, the token names no request yet.
    pending = await get(client, f"tokens/{token}.json")
    assert not list(schema("tokens").iter_errors(pending)) and pending[0]["service_request_id"] is None
    # The client retries after a timeout: the same request is the same token, and one ticket.
    again = await client.post("/open311/v2/requests.json", data=form)
    assert (await again.json())[0]["token"] == token
    work(redis_conn)
    [filed] = await get(client, f"tokens/{token}.json")
    request_id = filed["service_request_id"]
    [shown] = await get(client, f"requests/{request_id}.json")
    assert (shown["service_code"], shown["status"], shown["agency_responsible"]) == ("road_damage", "open",
                                                                                     "Dinas Bina Marga")
    assert "budi" not in json.dumps(shown).lower()
    with db.session() as s:
        [ticket] = s.scalars(select(Ticket)).all()
        assert (ticket.channel, ticket.category, ticket.category_confidence, ticket.kecamatan_kode) == (
            "open311", "road_damage", 1.0, "31.75.03")
        # Nobody is answered on the channel: the client reads the status back.
        assert s.scalars(select(Outbox).where(Outbox.channel == "open311")).all() == []


async def test_a_post_near_an_open_request_is_filed_and_names_it_as_duplicate_of(client: TestClient,
                                                                                 redis_conn: redis.Redis) -> None:
    report(redis_conn, "tg-3", "banjir setinggi lutut di jl jatinegara barat", -6.2245, 106.8660)
    [first] = await get(client, "requests.json")
    response = await client.post("/open311/v2/requests.xml", data={
        "api_key": KEY, "service_code": "flood", "lat": "-6.2250", "long": "106.8662",
        "description": "air naik terus"})
    assert response.status == 201
    posted = ET.fromstring(await response.read())
    # Nobody can be asked "support it?" on Open311: the answer names the request it may duplicate.
    assert posted.findtext("request/duplicate_of") == first["service_request_id"]
    token = posted.findtext("request/token")
    work(redis_conn)
    [filed] = await get(client, f"tokens/{token}.json")
    assert not list(schema("tokens").iter_errors([filed]))
    # Filed as its own request (not joined), and its token names the one nearby too.
    assert filed["service_request_id"] != first["service_request_id"]
    assert filed["duplicate_of"] == first["service_request_id"]
    assert len(await get(client, "requests.json")) == 2
    # Another service at the same point, or the same service 2 km away: no hint.
    for form in ({"service_code": "garbage", "lat": "-6.2250", "long": "106.8662"},
                 {"service_code": "flood", "lat": "-6.2425", "long": "106.8662"}):
        other = await client.post("/open311/v2/requests.json", data={"api_key": KEY, "description": "x", **form})
        [answer] = await other.json()
        assert not list(schema("post_response").iter_errors([answer])) and answer["duplicate_of"] is None


async def test_a_post_whose_address_names_no_place_never_waits_for_the_reporter(client: TestClient,
                                                                                redis_conn: redis.Redis) -> None:
    response = await client.post("/open311/v2/requests.json", data={
        "api_key": KEY, "service_code": "garbage", "address_string": "di belakang gedung yang biru itu",
        "description": "Sampah menumpuk sudah seminggu"})
    assert response.status == 201
    work(redis_conn)
    with db.session() as s:
        [ticket] = s.scalars(select(Ticket)).all()
        # Open311 can never answer "where?": the ticket goes on with its place unknown, not in needs_info.
        assert ticket.status == "open" and ticket.kelurahan_kode is None


async def test_a_post_is_refused_with_the_reason(client: TestClient) -> None:
    base = {"api_key": KEY, "service_code": "garbage", "lat": "-6.25", "long": "106.87"}
    for form, status, words in [({**base, "api_key": "nope"}, 403, "api_key"),
                                ({k: v for k, v in base.items() if k != "api_key"}, 403, "api_key"),
                                ({**base, "service_code": "banjir"}, 404, "banjir"),
                                ({"api_key": KEY, "service_code": "garbage"}, 400, "location is required"),
                                ({**base, "lat": "utara"}, 400, "decimal degrees"),
                                ({**base, "lat": "95"}, 400, "decimal degrees"),
                                ({**base, "lat": "nan"}, 400, "decimal degrees"),
                                ({**base, "long": "inf"}, 400, "decimal degrees"),
                                ({**base, "lat": "-6.9175", "long": "107.6191"}, 400, "outside DKI Jakarta"),  # Bandung
                                ({**base, "description": "x" * 4001}, 400, "4000")]:
        response = await client.post("/open311/v2/requests.json", data=form)
        errors = await response.json()
        assert response.status == status and not list(schema("errors").iter_errors(errors))
        assert words in errors[0]["description"], errors
    with db.session() as s:
        assert s.scalars(select(Ticket)).all() == []


async def test_a_point_outside_the_city_is_refused_beyond_the_margin(client: TestClient) -> None:
    base = {"api_key": KEY, "service_code": "garbage", "description": "sampah di pinggir jalan"}
    # Bandung, in the XML format: the error is XML too.
    response = await client.post("/open311/v2/requests.xml", data={**base, "lat": "-6.9175", "long": "107.6191"})
    assert response.status == 400
    xml = ET.fromstring(await response.read())
    assert xml.tag == "errors" and xml.findtext("error/code") == "400"
    assert "outside DKI Jakarta" in (xml.findtext("error/description") or "")
    # South of the border in Depok: about 3.6 km out is refused; about 1.6 km out is within the default 2 km margin.
    far = await client.post("/open311/v2/requests.json", data={**base, "lat": "-6.39", "long": "106.83"})
    assert far.status == 400 and "outside DKI Jakarta" in (await far.json())[0]["description"]
    near = await client.post("/open311/v2/requests.json", data={**base, "lat": "-6.37", "long": "106.83"})
    inside = await client.post("/open311/v2/requests.json", data={**base, "lat": "-6.2088", "long": "106.8456"})
    assert (near.status, inside.status) == (201, 201)


async def test_a_date_range_may_not_span_more_than_the_configured_days(client: TestClient) -> None:
    errors = await get(client, "requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", 400)
    assert "may not span more than 90 days" in errors[0]["description"]
    assert await get(client, "requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-02-01T00:00:00Z") == []
