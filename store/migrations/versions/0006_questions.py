"""The questions the hub asks citizens, stored with their ticket, kind and expiry; tickets an officer has
taken are "taken" (they were "assigned", like tickets only sent to a unit); a ticket already waiting for its
place gets its "where?" as a question, so it is answered or goes on like any other.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "questions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("chat_key", sa.String(255), nullable=False),
        sa.Column("citizen_id", Id, sa.ForeignKey("citizens.id", name="fk_questions_citizen"), nullable=False),
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id", name="fk_questions_ticket"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("asked", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("asked_in", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_questions_chat_status", "questions", ["chat_key", "status", "id"])
    op.create_index("ix_questions_ticket", "questions", ["ticket_id"])
    op.create_index("ix_questions_status_expires", "questions", ["status", "expires_at"])
    op.execute("UPDATE tickets SET status = 'taken' WHERE status = 'assigned' AND assigned_officer_id IS NOT NULL")
    _ask_waiting()


# tickets.dialogue_timeout_minutes' default: a migration does not read the config. A ticket that waited for its
# place before this revision can still be answered for this long; then the sweep sends it on.
WAIT = timedelta(minutes=60)


def _ask_waiting() -> None:
    bind = op.get_bind()
    tickets = sa.table("tickets", sa.column("id", Id), sa.column("citizen_id", Id), sa.column("status", sa.String),
                       sa.column("reply_address", sa.JSON))
    questions = sa.table("questions", *(sa.column(c) for c in ("chat_key", "citizen_id", "ticket_id", "kind", "asked",
                                                                "status", "created_at", "expires_at")),
                         sa.column("asked_in", sa.JSON))
    waiting = bind.execute(sa.select(tickets.c.id, tickets.c.citizen_id, tickets.c.reply_address).where(
        tickets.c.status == "needs_info", tickets.c.citizen_id.is_not(None))).all()
    now = datetime.now(timezone.utc)
    rows = [{"ticket_id": t.id, "citizen_id": t.citizen_id, "kind": "place", "asked": 1, "status": "open",
             # ingest.message.Address.chat_key, written out: a migration must not change with the code
             "chat_key": f"{t.reply_address['channel']}:{t.reply_address.get('bot') or ''}:{t.reply_address['chat_id']}",
             "asked_in": [], "created_at": now, "expires_at": now + WAIT} for t in waiting if t.reply_address]
    if rows:
        bind.execute(questions.insert(), rows)


def downgrade() -> None:
    op.execute("UPDATE tickets SET status = 'assigned' WHERE status = 'taken'")
    op.drop_index("ix_questions_status_expires", "questions")
    op.drop_index("ix_questions_ticket", "questions")
    op.drop_index("ix_questions_chat_status", "questions")
    op.drop_table("questions")
