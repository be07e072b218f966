"""Inbound messages count their unfinished tries (a message that fails every time is dead-lettered, not handed
out forever) and keep the payload as it came, as text, when it had to be cleaned to be stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages") as table:
        table.add_column(sa.Column("raw_text", sa.Text))
        table.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as table:
        table.drop_column("attempts")
        table.drop_column("raw_text")
