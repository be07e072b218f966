"""SMS: a short number (Lapor! 1708-style) through an HTTP SMS gateway (Twilio or Vonage shapes, or alike)."""
from bots.base import Channel
from bots.sms.config import SmsSettings

NAME = "sms"  # as stored in Address.channel, the outbox and the key prefix: never rename it once it has data
# No buttons (the outbox sends a numbered menu instead), no location button (the dialogue asks for an address).
# Not yet "officers": an officer's card by SMS and the answers to it have no test of their own.
CHANNEL = Channel(
    name=NAME, settings=SmsSettings, parse="bots.sms.parse:parse", sender="bots.sms.send:SmsSender",
    webhook="bots.sms.webhook:mount", capabilities=frozenset(),
    summary="SMS to a short number through an HTTP SMS gateway (inbound webhook)")
