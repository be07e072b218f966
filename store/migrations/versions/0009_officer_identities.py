"""Officers on any channel: an officer has one identity per channel (the Telegram user id was the only one).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "officer_identities",
        sa.Column("id", Id, primary_key=True),
        sa.Column("officer_id", Id, sa.ForeignKey("officers.id", name="fk_officer_identities_officer"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.UniqueConstraint("channel", "user_id", name="uq_officer_identity"),
    )
    op.create_index("ix_officer_identities_officer", "officer_identities", ["officer_id"])
    op.execute("INSERT INTO officer_identities (officer_id, channel, user_id, position) "
               "SELECT id, 'telegram', telegram_id, 0 FROM officers WHERE telegram_id NOT LIKE '-%'")
    # Batch mode: SQLite rebuilds the table without the column (and its unique constraint).
    with op.batch_alter_table("officers") as batch:
        batch.drop_column("telegram_id")


def downgrade() -> None:
    with op.batch_alter_table("officers") as batch:
        batch.add_column(sa.Column("telegram_id", sa.String(32)))
    # An officer without a Telegram identity gets a placeholder the old schema can hold (unique; "-" marks it, so
    # that upgrading again does not take it for a Telegram user id). Identities on other channels are lost.
    op.execute("UPDATE officers SET telegram_id = COALESCE((SELECT user_id FROM officer_identities i WHERE "
               "i.officer_id = officers.id AND i.channel = 'telegram'), '-' || CAST(officers.id AS VARCHAR(20)))")
    with op.batch_alter_table("officers") as batch:
        batch.alter_column("telegram_id", nullable=False)
        batch.create_unique_constraint("uq_officers_telegram_id", ["telegram_id"])
    op.drop_index("ix_officer_identities_officer", "officer_identities")
    op.drop_table("officer_identities")
