"""CROP workflow: officers, ticket routing and lifecycle columns, every reporter of a ticket, reply extras.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "officers",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("telegram_id", sa.String(32), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("agencies", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    # SQLite cannot add a foreign key to an existing table without rebuilding it: batch mode does that.
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("agency", sa.String(32)))
        batch.add_column(sa.Column("assigned_officer_id", Id, sa.ForeignKey("officers.id", name="fk_tickets_officer")))
        batch.add_column(sa.Column("duplicate_of_id", Id, sa.ForeignKey("tickets.id", name="fk_tickets_duplicate_of")))
        batch.add_column(sa.Column("first_response_at", TS))
        batch.add_column(sa.Column("resolved_at", TS))
        batch.add_column(sa.Column("resolution_photo_file_id", sa.String(255)))
        batch.add_column(sa.Column("sla_started_at", TS))
        batch.add_column(sa.Column("sla_paused_at", TS))
        batch.add_column(sa.Column("sla_paused_seconds", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("sla_level", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_tickets_status_category", ["status", "category"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("extras", sa.JSON()))  # photo, buttons, location request
    op.create_table(
        "ticket_reporters",
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("citizen_id", Id, sa.ForeignKey("citizens.id"), primary_key=True),
        sa.Column("reply_address", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("joined_at", TS, nullable=False),
    )
    op.create_index("ix_ticket_reporters_citizen", "ticket_reporters", ["citizen_id"])
    # Tickets filed before this migration have one reporter: the citizen who filed them.
    op.execute("INSERT INTO ticket_reporters (ticket_id, citizen_id, reply_address, language, joined_at) "
               "SELECT id, citizen_id, reply_address, language, created_at FROM tickets")


def downgrade() -> None:
    op.drop_table("ticket_reporters")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("extras")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_status_category")
        for column in ("sla_level", "sla_paused_seconds", "sla_paused_at", "sla_started_at", "resolution_photo_file_id",
                       "resolved_at", "first_response_at", "duplicate_of_id",
                       "assigned_officer_id", "agency"):
            batch.drop_column(column)
    op.drop_table("officers")
