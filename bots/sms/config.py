"""The `sms:` section of config.yaml: one HTTP SMS gateway, inbound by webhook, replies by its send API.

Two presets name the real shapes of two common gateways, so that a deployment sets `preset` and its secrets:
- "twilio": inbound form fields MessageSid / From / To / Body (application/x-www-form-urlencoded); replies
  POSTed as the form To / From / Body to the Messages resource with HTTP basic auth (account SID, auth token).
- "vonage": the SMS API's inbound webhook (set it to POST-JSON) with messageId / msisdn / to / text /
  message-timestamp; replies POSTed as JSON (api_key, api_secret, from, to, text, type) to /sms/json.
Any other gateway that posts the same way can be read by naming its fields under `sms.fields`.
"""
from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bots.base import ChannelSettings

Preset = Literal["twilio", "vonage"]


class Fields(BaseModel):
    """The names of an inbound payload's fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: str  # the gateway's id of the message: the idempotency key
    sender: str  # the citizen's number: where replies go
    recipient: str  # our number (or short code) the message was sent to
    text: str  # the message's text
    received_at: str | None = None  # when the gateway received it; None: the gateway does not say
    kind: str | None = None  # the message's type (Vonage: text | unicode | binary); None: every message is text


class FieldOverrides(BaseModel):
    """`sms.fields`: names that differ from the preset's; a key left out (or null) keeps the preset's name."""

    model_config = ConfigDict(extra="forbid")

    message_id: str | None = None
    sender: str | None = None
    recipient: str | None = None
    text: str | None = None
    received_at: str | None = None
    kind: str | None = None


# Each preset's inbound field names, as the gateway's documentation names them.
PRESET_FIELDS: dict[str, Fields] = {
    "twilio": Fields(message_id="MessageSid", sender="From", recipient="To", text="Body"),
    "vonage": Fields(message_id="messageId", sender="msisdn", recipient="to", text="text",
                     received_at="message-timestamp", kind="type"),
}
# Each preset's send endpoint; "{username}" is filled with the value of username_env (Twilio's account SID).
PRESET_SEND_URL: dict[str, str] = {
    "twilio": "https://api.twilio.com/2010-04-01/Accounts/{username}/Messages.json",
    "vonage": "https://rest.nexmo.com/sms/json",
}


class SmsInboundSettings(BaseModel):
    """`sms.inbound`: where the gateway posts received messages and how the request proves it is the gateway's."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field("/sms/inbound", pattern=r"^/")  # where `crophub web` receives them
    # "secret": the header carries the shared secret itself; "hmac-sha256": the header carries the HMAC-SHA256
    # of the raw body keyed with the secret (hex, optionally prefixed "sha256=", or base64: see signature_encoding).
    auth: Literal["secret", "hmac-sha256"] = "secret"
    header: str = Field("X-Crophub-Sms-Secret", min_length=1)  # the request header that carries it
    signature_encoding: Literal["hex", "base64"] = "hex"  # how an HMAC signature is written in the header
    secret_env: str = "CROPHUB_SMS_WEBHOOK_SECRET"  # the variable holding the shared secret


class SmsSettings(ChannelSettings):
    preset: Preset = "twilio"  # the gateway's shapes: field names, send format, send URL (see the module's doc)
    fields: FieldOverrides = FieldOverrides()  # inbound field names that differ from the preset's
    inbound: SmsInboundSettings = SmsInboundSettings()
    # Our number or short code as the gateway knows it ("From" of a reply) when the message answered does not
    # name it (it does: a reply goes from the number the citizen wrote to).
    number: str | None = None
    send_url: str | None = Field(None, pattern=r"^https?://")  # None: the preset's (a fake or a proxy in tests)
    username_env: str = "CROPHUB_SMS_USERNAME"  # twilio: the account SID (basic auth); vonage: the api_key
    password_env: str = "CROPHUB_SMS_PASSWORD"  # twilio: the auth token (basic auth); vonage: the api_secret
    # Parts a reply may take: 160 GSM-7 or 70 UCS-2 characters as one SMS, 153 / 67 per part when longer.
    # A longer reply is cut to fit and ends with an ellipsis. Each part is paid for.
    max_parts: int = Field(4, ge=1, le=10)
    # True: one request per reply, the gateway sends the parts as one concatenated SMS (Twilio and Vonage do);
    # False: one request, and one separate SMS, per part (for gateways that do not concatenate).
    concatenate: bool = True
    # Typographic dashes, quotes, "…" and odd spaces sent as their GSM-7 look-alikes ("-", '"', "...", " "), as
    # Twilio's Smart Encoding does: one "—" would otherwise make the whole reply UCS-2, in parts of 67, not 153.
    plain_punctuation: bool = True
    timeout: float = Field(15.0, gt=0, le=120)  # seconds a send request may take

    @property
    def webhook_secret(self) -> str | None:
        """The inbound shared secret or HMAC key from the environment."""
        return os.environ.get(self.inbound.secret_env) or None

    @property
    def username(self) -> str | None:
        """The gateway's account name from the environment (Twilio account SID, Vonage api_key)."""
        return os.environ.get(self.username_env) or None

    @property
    def password(self) -> str | None:
        """The gateway's account secret from the environment (Twilio auth token, Vonage api_secret)."""
        return os.environ.get(self.password_env) or None

    def inbound_fields(self) -> Fields:
        """The preset's field names with the configured overrides."""
        return PRESET_FIELDS[self.preset].model_copy(update=self.fields.model_dump(exclude_none=True))

    def url(self) -> str:
        """Where replies are POSTed."""
        return (self.send_url or PRESET_SEND_URL[self.preset]).replace("{username}", self.username or "")

    def status(self) -> str | None:
        """None when SMS can run; otherwise the one line that says it is off and how to turn it on."""
        if not self.webhook_secret:
            return (f"sms: channel off: no webhook secret. To turn it on, export {self.inbound.secret_env}=<the "
                    f"secret the gateway sends in {self.inbound.header}>, {self.username_env} and {self.password_env}"
                    f" (gateway preset: {self.preset})")
        if not (self.username and self.password):
            return (f"sms: channel off: no gateway credentials. To turn it on, export {self.username_env} and "
                    f"{self.password_env} (preset {self.preset}: "
                    f"{'account SID and auth token' if self.preset == 'twilio' else 'api_key and api_secret'})")
        return None

    def listens(self) -> bool:
        """Messages arrive by webhook only: nothing for `crophub listen` to run."""
        return False

    def serves(self) -> bool:
        """`crophub web` mounts the inbound webhook."""
        return True
