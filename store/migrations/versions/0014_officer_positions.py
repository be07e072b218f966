"""Officers' live locations: the last position of an officer sharing a live location in chat, and until when.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "officer_positions",
        sa.Column("officer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("officers.id", name="fk_officer_positions_officer"), primary_key=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("live_until", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("officer_positions")
