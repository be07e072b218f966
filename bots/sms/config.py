"""The `sms:` section of config.yaml: one HTTP SMS gateway, inbound by webhook, replies by its send API.

Two presets name the real shapes of two common gateways, so that a deployment sets `preset` and its secrets:
- "twilio": inbound form fields MessageSid / From / To / Body (application/x-www-form-urlencoded); replies
  POSTed as the form To / From / Body to the Messages resource with HTTP basic auth (account SID, auth token).
- "vonage": the SMS API's inbound webhook (set it to POST-JSON) with messageId / msisdn / to / text /
  message-timestamp; replies POSTed as JSON (api_key, api_secret, from, to, text, type) to /sms/json.
Any other gateway that posts the same way can be read by naming its fields under `sms.fields`.

How an inbound request proves it is the gateway's (`sms.inbound.auth`): the twilio preset checks Twilio's own
X-Twilio-Signature (keyed with the auth token), the vonage preset a shared secret in a header (which Vonage itself
does not send: a proxy in front adds it), unless `auth` names another way.
"""
from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bots.base import ChannelSettings

Preset = Literal["twilio", "vonage"]
Auth = Literal["secret", "hmac-sha256", "twilio-signature"]


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
# Each preset's inbound check when sms.inbound.auth names none: what the gateway itself sends.
PRESET_AUTH: dict[str, Auth] = {"twilio": "twilio-signature", "vonage": "secret"}
TWILIO_HEADER = "X-Twilio-Signature"
SECRET_HEADER = "X-Crophub-Sms-Secret"


class SmsInboundSettings(BaseModel):
    """`sms.inbound`: where the gateway posts received messages and how the request proves it is the gateway's."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field("/sms/inbound", pattern=r"^/")  # where `crophub web` receives them
    # "twilio-signature": X-Twilio-Signature, Twilio's base64 HMAC-SHA1 of public_url and the sorted POST fields,
    # keyed with the account's auth token (password_env); "secret": the header carries the shared secret
    # (secret_env) itself; "hmac-sha256": the header carries the HMAC-SHA256 of the raw body keyed with the secret
    # (hex, optionally prefixed "sha256=", or base64: see signature_encoding). None: the preset's (PRESET_AUTH).
    auth: Auth | None = None
    # The request header that carries it; None: X-Twilio-Signature for twilio-signature, else X-Crophub-Sms-Secret.
    header: str | None = Field(None, min_length=1)
    signature_encoding: Literal["hex", "base64"] = "hex"  # how an HMAC-SHA256 signature is written in the header
    secret_env: str = "CROPHUB_SMS_WEBHOOK_SECRET"  # the variable holding the shared secret (not for Twilio's)
    # The webhook's URL as configured at the gateway, which Twilio signs (behind a proxy or a load balancer it
    # differs from the URL the request arrives at); also where replies ask Twilio to post their delivery reports.
    # None: the URL each request arrives at, as `crophub web` sees it; no delivery reports asked for.
    public_url: str | None = Field(None, pattern=r"^https?://")
    # Seconds the stored parts of a long SMS (Vonage: concat-ref / concat-part) wait for a missing part; after
    # that, the sender's next SMS delivers the parts that came, joined, before itself (bots/sms/concat.py).
    concat_wait: float = Field(300.0, gt=0)


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
    # twilio: each reply asks Twilio to post its delivery status (StatusCallback) to inbound.public_url, when it
    # is set, where it is kept on the reply's outbox row. Vonage posts delivery receipts to the URL set in its
    # dashboard (set it to the inbound URL).
    delivery_reports: bool = True

    @model_validator(mode="after")
    def _preset_defaults(self) -> SmsSettings:
        """The inbound check and its header the preset implies, where the section names none."""
        inbound = self.inbound
        if inbound.auth is None:
            inbound.auth = PRESET_AUTH[self.preset]
        if inbound.header is None:
            inbound.header = TWILIO_HEADER if inbound.auth == "twilio-signature" else SECRET_HEADER
        return self

    @property
    def webhook_secret(self) -> str | None:
        """The inbound shared secret or HMAC key from the environment."""
        return os.environ.get(self.inbound.secret_env) or None

    @property
    def inbound_key(self) -> str | None:
        """What inbound requests are checked with: Twilio's auth token, or the shared secret."""
        return self.password if self.inbound.auth == "twilio-signature" else self.webhook_secret

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
        if self.inbound.auth == "twilio-signature":
            if self.username and self.password:
                return None
            return (f"sms: channel off: no Twilio credentials. To turn it on, export {self.username_env}=<account "
                    f"SID> and {self.password_env}=<auth token> (the auth token also checks each webhook request's "
                    f"{self.inbound.header})")
        if not self.webhook_secret:
            return (f"sms: channel off: no webhook secret. To turn it on, export {self.inbound.secret_env}=<the "
                    f"secret the gateway sends in {self.inbound.header}>, {self.username_env} and {self.password_env}"
                    f" (gateway preset: {self.preset})")
        if not (self.username and self.password):
            return (f"sms: channel off: no gateway credentials. To turn it on, export {self.username_env} and "
                    f"{self.password_env} (preset {self.preset}: "
                    f"{'account SID and auth token' if self.preset == 'twilio' else 'api_key and api_secret'})")
        return None

    def warnings(self) -> list[str]:
        """What works only in part: a Twilio signature checked against a URL that may not be the one signed, or a
        header the gateway itself does not send."""
        inbound = self.inbound
        if inbound.auth == "twilio-signature":
            if inbound.public_url:
                return []
            return ["sms: inbound.public_url is not set: Twilio's signature is checked against the URL each request "
                    "arrives at, and replies ask for no delivery reports; behind a proxy or a load balancer set it "
                    f"to the webhook URL configured at Twilio (https://<host>{inbound.path})"]
        gateway = "Twilio" if self.preset == "twilio" else "Vonage"
        also = " (or set sms.inbound.auth: twilio-signature)" if self.preset == "twilio" else \
            " (Vonage's own signed webhooks, its sig field, are not checked)"
        return [f"sms: inbound.auth is {inbound.auth}: {gateway} itself sends no {inbound.header}; the proxy in front "
                f"of `crophub web` must add it{also}"]

    def listens(self) -> bool:
        """Messages arrive by webhook only: nothing for `crophub listen` to run."""
        return False

    def serves(self) -> bool:
        """`crophub web` mounts the inbound webhook."""
        return True
