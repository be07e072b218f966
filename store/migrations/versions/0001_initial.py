"""Initial tables: inbound messages, citizens, tickets, ticket events, outbox, cursors.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", Id, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("message", sa.JSON()),
        sa.Column("raw", sa.JSON()),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("processed_at", TS),
        sa.UniqueConstraint("channel", "key", name="uq_inbound_channel_key"),
    )
    op.create_index("ix_inbound_status_received", "inbound_messages", ["status", "received_at"])
    op.create_table(
        "citizens",
        sa.Column("id", Id, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(255)),
        sa.Column("username", sa.String(255)),
        sa.Column("language", sa.String(8)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.UniqueConstraint("channel", "external_id", name="uq_citizen_channel_external"),
    )
    op.create_table(
        "tickets",
        sa.Column("id", Id, primary_key=True),
        sa.Column("public_id", sa.String(32), unique=True),
        sa.Column("citizen_id", Id, sa.ForeignKey("citizens.id"), nullable=False),
        sa.Column("inbound_id", Id, sa.ForeignKey("inbound_messages.id")),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32)),
        sa.Column("category_confidence", sa.Float()),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("lat", sa.Float()),
        sa.Column("lon", sa.Float()),
        sa.Column("place_text", sa.String(255)),
        sa.Column("kelurahan_kode", sa.String(16)),
        sa.Column("kecamatan_kode", sa.String(16)),
        sa.Column("kab_kota_kode", sa.String(16)),
        sa.Column("geocode_source", sa.String(32)),
        sa.Column("photo_file_id", sa.String(255)),
        sa.Column("reply_address", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("closed_at", TS),
    )
    op.create_index("ix_tickets_citizen_created", "tickets", ["citizen_id", "created_at"])
    op.create_table(
        "ticket_events",
        sa.Column("id", Id, primary_key=True),
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("inbound_id", Id, sa.ForeignKey("inbound_messages.id")),
        sa.Column("data", sa.JSON()),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_ticket_events_ticket", "ticket_events", ["ticket_id", "id"])
    op.create_table(
        "outbox",
        sa.Column("id", Id, primary_key=True),
        sa.Column("dedupe_key", sa.String(255), nullable=False, unique=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("chat_key", sa.String(255), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("provider_message_id", sa.String(64)),
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id")),
        sa.Column("inbound_id", Id, sa.ForeignKey("inbound_messages.id")),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("not_before", TS),
        sa.Column("sent_at", TS),
    )
    op.create_index("ix_outbox_chat_status", "outbox", ["chat_key", "status", "id"])
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("cursors", "outbox", "ticket_events", "tickets", "citizens", "inbound_messages"):
        op.drop_table(table)
