"""jobs.attempts and jobs.heartbeat_at (Celery executor: lease and takeover)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 23:40:00
"""

from __future__ import annotations

import scloud_api.models
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("heartbeat_at", scloud_api.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("attempts")
