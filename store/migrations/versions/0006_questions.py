"""The questions the hub asks citizens, stored with their ticket, kind and expiry; tickets an officer has
taken are "taken" (they were "assigned", like tickets only sent to a unit).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
from __future__ import annotations

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


def downgrade() -> None:
    op.execute("UPDATE tickets SET status = 'assigned' WHERE status = 'taken'")
    op.drop_index("ix_questions_status_expires", "questions")
    op.drop_index("ix_questions_ticket", "questions")
    op.drop_index("ix_questions_chat_status", "questions")
    op.drop_table("questions")
