"""WhatsApp (the Cloud API on Meta's Graph API): the signed webhook, its parser, and a sender that answers from the
number that was written to."""
from bots.base import Channel
from bots.whatsapp.config import WhatsAppSettings

NAME = "whatsapp"  # declared once: parse.CHANNEL, the registry and the stored rows use it
CHANNEL = Channel(
    name=NAME, settings=WhatsAppSettings, parse="bots.whatsapp.parse:parse_payload",
    sender="bots.whatsapp.send:WhatsAppSender", webhook="bots.whatsapp.webhook:mount",
    capabilities=frozenset({"buttons", "locations", "uploads", "downloads"}),
    reply_window_hours=24, summary="WhatsApp Business numbers (the Cloud API's webhook)")
