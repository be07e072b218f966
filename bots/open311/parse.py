"""A POSTed Open311 service request (form fields, as the GeoReport v2 spec names them) → the normalised Message.

The web handler authenticates the client (its api_key → a client name), checks the service_code against the
taxonomy and the point against the city's boundary, and names the area an `address_id` stands for; this module
reads everything else, the same way for every client. A request posted twice (a retry after a timeout) is the
same message: its key is the hash of the client and the request's content.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Mapping

from ingest.message import Address, Location, Message, Sender

from bots.open311 import NAME as CHANNEL  # noqa: E402
MAX_DESCRIPTION = 4000  # characters, the spec's limit
MAX_ADDRESS = 500  # characters of address_string kept
# The request's content, which makes its idempotency key (the api_key, names and phone are not content).
CONTENT = ("service_code", "lat", "long", "address_string", "address_id", "description", "media_url", "email",
           "device_id", "account_id")


class Invalid(ValueError):
    """A request the client should not have sent; the message is the reason, for the 400 answer."""


def service_code(form: Mapping[str, str]) -> str:
    """The requested service_code; raises Invalid when there is none."""
    code = form.get("service_code", "").strip()
    if not code:
        raise Invalid("service_code is required")
    return code


def location(form: Mapping[str, str]) -> Location | None:
    """The request's point (lat, long in WGS84), None when it gives none; raises Invalid for a bad one."""
    lat, lon = form.get("lat", "").strip(), form.get("long", "").strip()
    if not lat and not lon:
        return None
    try:
        return Location(lat=float(lat), lon=float(lon))
    except ValueError:
        raise Invalid("lat and long must be decimal degrees (WGS84)") from None


def parse(form: Mapping[str, str], client: str, received_at: datetime, area: str = "") -> Message:
    """The Message for one request from `client`; `area` names the place its address_id stands for."""
    code = service_code(form)
    point = location(form)
    address = form.get("address_string", "").strip()[:MAX_ADDRESS]
    if point is None and not address and not form.get("address_id", "").strip():
        raise Invalid("a location is required: lat and long, address_string or address_id")
    description = form.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Invalid(f"description is longer than {MAX_DESCRIPTION} characters")
    text = "\n".join(p for p in (description, address, area) if p)
    fields = {k: form.get(k, "") for k in CONTENT}
    key = hashlib.sha256(json.dumps([client, fields], sort_keys=True).encode()).hexdigest()[:32]
    person = form.get("email") or form.get("device_id") or form.get("account_id") or "anonymous"
    name = " ".join(p for p in (form.get("first_name", ""), form.get("last_name", "")) if p) or None
    media = form.get("media_url", "").strip()
    return Message(
        channel=CHANNEL, key=key,
        # Private, like every channel's sender: kept for officers, never shown by the API.
        sender=Sender(id=f"{client}:{person}"[:255], name=name),
        address=Address(channel=CHANNEL, chat_id=client), text=text, location=point,
        category=code, provider_message_id=key, received_at=received_at,
        raw={"client": client, "form": {k: v for k, v in form.items() if k != "api_key"},
             "media_url": media if media.startswith("https://") else None},
    )
