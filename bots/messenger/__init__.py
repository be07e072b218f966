"""Facebook Messenger (Messenger Platform): parse Page webhook events, send replies through the Send API."""
from bots.base import Channel
from bots.messenger.config import MessengerSettings

NAME = "messenger"  # declared once: parse.CHANNEL, the registry and the stored rows use it
CHANNEL = Channel(
    name=NAME, settings=MessengerSettings, parse="bots.messenger.parse:parse_payload",
    sender="bots.messenger.send:MessengerSender", webhook="bots.messenger.webhook:mount",
    # Quick replies are buttons whose payload comes back as the citizen's text. No "locations": Meta removed the
    # location quick reply (2019), so the dialogue asks for the place in words. No "edits": a sent message's
    # quick replies cannot be taken back (they vanish by themselves once the citizen writes again).
    capabilities=frozenset({"buttons"}),
    reply_window_hours=24, summary="a Facebook Page's Messenger inbox (webhook in `crophub web`)")
