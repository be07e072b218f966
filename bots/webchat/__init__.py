"""Web chat: citizens report from a page of our own web app (web/chat.py) through the same dialogue."""
from bots.base import Channel
from bots.webchat.config import WebChatSettings

# Stored as "web" (Address.channel, the outbox, the keys) since the first release: the name stays; its config
# section is `webchat`, because `web` is the web app's own.
NAME = "web"  # declared once: parse.CHANNEL, the registry and the stored rows use it
CHANNEL = Channel(
    name=NAME, section="webchat", settings=WebChatSettings, parse="bots.webchat.parse:parse",
    sender="bots.webchat.send:WebChatSender", served_by_web=True,
    capabilities=frozenset({"buttons", "locations", "edits"}), summary="the chat page of the web app (/chat)")
