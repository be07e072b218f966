"""Verified closure: the checks of officers' "done" photos (their perceptual hashes, what could not be checked) and
the flags they raise for supervisors.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "photo_checks",
        sa.Column("id", Id, primary_key=True),
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id", name="fk_photo_checks_ticket"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("photo", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("phash", sa.String(16)),
        sa.Column("exif_read", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", When, nullable=False),
        sa.Column("checked_at", When),
    )
    op.create_index("ix_photo_checks_ticket", "photo_checks", ["ticket_id"])
    op.create_index("ix_photo_checks_state_created", "photo_checks", ["state", "created_at"])
    op.create_table(
        "ticket_flags",
        sa.Column("id", Id, primary_key=True),
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id", name="fk_ticket_flags_ticket"), nullable=False),
        sa.Column("check_id", Id, sa.ForeignKey("photo_checks.id", name="fk_ticket_flags_check"), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.UniqueConstraint("check_id", "code", name="uq_ticket_flags_check_code"),
    )
    op.create_index("ix_ticket_flags_ticket", "ticket_flags", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_flags_ticket", "ticket_flags")
    op.drop_table("ticket_flags")
    op.drop_index("ix_photo_checks_state_created", "photo_checks")
    op.drop_index("ix_photo_checks_ticket", "photo_checks")
    op.drop_table("photo_checks")
