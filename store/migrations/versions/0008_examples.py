"""Labelled examples learnt from use: the categories citizens confirm or pick and officers' re-categorisations,
with the report's text masked, for `crophub train --with-confirmed` and `crophub export-examples`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "examples",
        sa.Column("id", Id, primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("officer_id", Id, sa.ForeignKey("officers.id", name="fk_examples_officer")),
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id", name="fk_examples_ticket")),
        sa.Column("predicted", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("examples")
