"""Waze feed: the alerts the feed shows (and the tickets they filed or joined); tickets without a citizen;
an index for the duplicate search.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A ticket filed from the Waze feed has no citizen behind it.
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column("citizen_id", existing_type=Id, nullable=True)
        # Every alert looks for a ticket of its category nearby (router/duplicates.py), as every report does.
        batch.create_index("ix_tickets_category_lat", ["category", "lat"])
    op.create_table(
        "waze_alerts",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("kind_key", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("street", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("corroborated", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON()),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id", name="fk_waze_alerts_ticket")),
        sa.Column("published_at", TS),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("gone_at", TS),
    )
    op.create_index("ix_waze_alerts_status", "waze_alerts", ["status", "last_seen_at"])
    op.create_index("ix_waze_alerts_ticket", "waze_alerts", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("waze_alerts")
    # Feed-filed tickets have no citizen to give them back: they go with their alerts.
    op.execute("DELETE FROM ticket_events WHERE ticket_id IN (SELECT id FROM tickets WHERE citizen_id IS NULL)")
    op.execute("DELETE FROM outbox WHERE ticket_id IN (SELECT id FROM tickets WHERE citizen_id IS NULL)")
    op.execute("UPDATE tickets SET duplicate_of_id = NULL WHERE duplicate_of_id IN "
               "(SELECT id FROM tickets WHERE citizen_id IS NULL)")
    op.execute("DELETE FROM ticket_reporters WHERE ticket_id IN (SELECT id FROM tickets WHERE citizen_id IS NULL)")
    op.execute("DELETE FROM tickets WHERE citizen_id IS NULL")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_category_lat")
        batch.alter_column("citizen_id", existing_type=Id, nullable=False)
