"""Twitter (API v2 via tweepy): parse mentions, poll or stream them, post threaded replies."""
from bots.base import Channel
from bots.twitter.config import TwitterSettings

NAME = "twitter"  # declared once: parse.CHANNEL, the registry and the stored rows use it
CHANNEL = Channel(
    name=NAME, settings=TwitterSettings, parse="bots.twitter.parse:parse_page",
    sender="bots.twitter.send:TwitterSender", listener="bots.twitter.poll:listener",
    capabilities=frozenset({"threading"}), summary="mentions of the city's Twitter account")
