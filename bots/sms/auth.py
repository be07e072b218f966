"""Whether an inbound request is the gateway's: Twilio's X-Twilio-Signature, a shared secret in a header, or an
HMAC-SHA256 of the body (sms.inbound.auth). Pure."""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Iterable
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

from bots.sms.config import SmsInboundSettings

FORM = "application/x-www-form-urlencoded"


def refusal(inbound: SmsInboundSettings, key: str, headers: Any, body: bytes, url: str, content_type: str) -> str | None:
    """Why the request does not prove it is the gateway's (None: it does). `url`: the URL it arrived at."""
    if not key:  # an HMAC keyed with "" is one anybody can compute
        return "no auth token configured" if inbound.auth == "twilio-signature" else "no webhook secret configured"
    header = inbound.header or ""
    given = (headers.get(header) or "").strip()
    if not given:
        return f"no {header} header"
    if inbound.auth == "twilio-signature":
        return _twilio(key, given, body, inbound.public_url or url, content_type)
    if inbound.auth == "secret":
        return None if hmac.compare_digest(given.encode(), key.encode()) else f"wrong secret in {header}"
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    if inbound.signature_encoding == "hex":
        expected, given = digest.hex(), given.lower().removeprefix("sha256=")
    else:
        expected = base64.b64encode(digest).decode()
    return None if hmac.compare_digest(given.encode(), expected.encode()) else f"wrong signature in {header}"


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature for a request to `url` with these POST fields: the base64 HMAC-SHA1, keyed with the
    account's auth token, of the URL followed by each field's name and value, by name (a repeated name's values in
    order of value)."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _twilio(auth_token: str, given: str, body: bytes, url: str, content_type: str) -> str | None:
    query = parse_qs(urlsplit(url).query)
    if content_type == FORM:
        params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    elif "bodySHA256" in query:  # a JSON body: Twilio signs the URL, which carries the body's hash
        if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), query["bodySHA256"][0]):
            return "the body does not match bodySHA256"
        params = []
    else:  # the signature would cover the URL alone: any body could be sent under it
        return f"a {content_type or 'body'} without bodySHA256 is not covered by X-Twilio-Signature"
    # Twilio is not consistent about a default port in the URL it signs: both forms are accepted, as its own
    # libraries do.
    if any(hmac.compare_digest(given.encode(), twilio_signature(auth_token, u, params).encode()) for u in _ports(url)):
        return None
    return "wrong X-Twilio-Signature (another auth token, another URL than sms.inbound.public_url, or a changed body)"


def _ports(url: str) -> list[str]:
    """`url` without and with its scheme's default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + host
    default = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default:
        return [url]
    return [urlunsplit(parts._replace(netloc=netloc)), urlunsplit(parts._replace(netloc=f"{netloc}:{default}"))]
