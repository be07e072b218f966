"""Photo references carry the channel that holds them: a ticket's bare Telegram file id becomes
"telegram:file:<bot>:<file id>" (before, any reference not recognised was taken for a Telegram file id).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("photo_file_id", "resolution_photo_file_id")
_TYPED = ("media:sha256:", "https://", "http://", "email:sha256:", "telegram:file:")


def _bot(reply_address: object, channel: str) -> str:
    data = json.loads(reply_address) if isinstance(reply_address, str) else reply_address
    return str((data or {}).get("bot") or "") if channel == "telegram" and isinstance(data, dict) else ""


def upgrade() -> None:
    conn = op.get_bind()
    tickets = sa.table("tickets", sa.column("id"), sa.column("channel"), sa.column("reply_address"),
                       *(sa.column(c) for c in COLUMNS))
    rows = conn.execute(sa.select(tickets).where(sa.or_(*(tickets.c[c].isnot(None) for c in COLUMNS)))).mappings()
    for row in list(rows):
        # Only Telegram ever stored a bare reference; the bot is the one the ticket came by, when it came by one.
        changed = {c: f"telegram:file:{_bot(row['reply_address'], row['channel'])}:{row[c]}" for c in COLUMNS
                   if row[c] and not row[c].startswith(_TYPED)}
        if changed:
            conn.execute(tickets.update().where(tickets.c.id == row["id"]).values(**changed))


def downgrade() -> None:
    conn = op.get_bind()
    for column in COLUMNS:
        tickets = sa.table("tickets", sa.column("id"), sa.column(column))
        for ticket_id, ref in conn.execute(sa.select(tickets).where(tickets.c[column].like("telegram:file:%"))).all():
            conn.execute(tickets.update().where(tickets.c.id == ticket_id).values({column: ref.split(":", 3)[3]}))
