"""A citizen's public alias: the handle the public page's top reporters show, only for those who opted in
(`/publik nama <alias>`); none by default.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("citizens") as batch:
        batch.add_column(sa.Column("public_alias", sa.String(32), nullable=True))
        batch.create_unique_constraint("uq_citizens_public_alias", ["public_alias"])


def downgrade() -> None:
    with op.batch_alter_table("citizens") as batch:
        batch.drop_constraint("uq_citizens_public_alias", type_="unique")
        batch.drop_column("public_alias")
