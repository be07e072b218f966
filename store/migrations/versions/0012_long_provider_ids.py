"""A reply's provider id holds Messenger's message ids (about 90 characters; 64 refused them on PostgreSQL, so a sent
reply could not be marked sent), and receipts find replies by it through an index.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("provider_message_id", type_=sa.String(255), existing_type=sa.String(64))
        batch.create_index("ix_outbox_channel_provider_id", ["channel", "provider_message_id"])


def downgrade() -> None:
    outbox = sa.table("outbox", sa.column("provider_message_id", sa.String))
    # What no longer fits is cut (such an id no longer matches its receipts: the price of going back).
    op.execute(outbox.update().where(sa.func.length(outbox.c.provider_message_id) > 64)
               .values(provider_message_id=sa.func.substr(outbox.c.provider_message_id, 1, 64)))
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_channel_provider_id")
        batch.alter_column("provider_message_id", type_=sa.String(64), existing_type=sa.String(255))
