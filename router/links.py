"""Links to a ticket's public page (web/ticket_page.py), when the site's public address is configured
(web.public_url)."""
from __future__ import annotations

from router import context
from router.templates import render


def ticket_page(public_id: str) -> str | None:
    """The ticket's public page, <web.public_url>/t/<id>; None when no public address is configured."""
    base = context.config().public_url
    return f"{base.rstrip('/')}/t/{public_id}" if base else None


def see_line(public_id: str, language: str) -> str:
    """The acknowledgement's last line linking the ticket's public page ("" when there is no public address)."""
    url = ticket_page(public_id)
    return render("ack_link", language, url=url) if url else ""
