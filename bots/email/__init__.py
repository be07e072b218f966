"""Email: parse RFC 5322 mail from an IMAP inbox, send threaded replies over SMTP."""
from bots.base import Channel
from bots.email.config import EmailSettings

NAME = "email"  # declared once: parse.CHANNEL, the registry and the stored rows use it
CHANNEL = Channel(
    name=NAME, settings=EmailSettings, parse="bots.email.parse:parse_email",
    sender="bots.email.send:EmailSender", listener="bots.email.inbox:listener",
    capabilities=frozenset({"threading"}), summary="an IMAP inbox, answered over SMTP")
