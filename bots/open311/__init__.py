"""Open311 GeoReport v2: a city portal's POSTed service request → the normalised Message (the API itself,
its listings and status reads, is served by web/open311.py)."""
from bots.base import Channel
from bots.open311.config import Open311Settings

# Nobody is answered on it: a client reads a request's status back from the API.
NAME = "open311"  # declared once: parse.CHANNEL, the registry and the stored rows use it
CHANNEL = Channel(name=NAME, settings=Open311Settings, parse="bots.open311.parse:parse", served_by_web=True,
                  summary="the Open311 GeoReport v2 API (/open311/v2/)")
