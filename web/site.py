"""Every page and API of `crophub web` mounted on one app, so the tests serve what production serves."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from ingest.intake import Intake
from web import auth, chat, crop_map, dashboard, open311, public, supervisors, ticket_page
from web.media import Photos


@dataclass(frozen=True)
class Site:
    """The web settings the pages read (config.yaml `web`)."""

    view: public.Config = field(default_factory=public.Config)  # the public page, the officers' map, statistics
    session_hours: float = 12.0
    secure_cookies: bool = False
    open311: open311.Config | None = None  # None: no Open311 API
    chat: bool = True  # the web chat (/chat); false: its page and API answer 404
    public_text: bool = True  # a report's text, masked, on its public page /t/<id> (web.public_text)


def mount(app: web.Application, sessions: sessionmaker[Session], intake: Intake | None, photos: Photos,
          site: Site) -> None:
    """Add the login, the officers' pages, the web chat, the public page and Open311 to `app`."""
    auth.setup(app, sessions, timedelta(hours=site.session_hours), site.secure_cookies)
    dashboard.setup(app, sessions, photos, site.view)
    supervisors.setup(app, sessions, site.view)
    crop_map.setup(app, sessions, site.view)
    if site.chat:
        chat.setup(app, sessions, intake, photos, site.secure_cookies)
    # The pages' "Lapor" link leads to the web chat only when there is one (the page answers 404 otherwise).
    public.templates.globals["web_chat"] = site.chat
    public.setup(app, sessions, site.view, photos)
    ticket_page.setup(app, sessions, site.view, photos, site.public_text)
    if site.open311 is not None:
        open311.setup(app, sessions, intake, site.open311)
