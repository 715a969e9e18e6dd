"""alarms: the history of Alertmanager's alerts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 20:00:00
"""

from __future__ import annotations

import scloud_api.models
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC = scloud_api.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("node", sa.String(255), nullable=True),
        sa.Column("resource", sa.String(255), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTC(timezone=True), nullable=False),
        sa.Column("ends_at", UTC(timezone=True), nullable=True),
        sa.Column("received_at", UTC(timezone=True), nullable=False),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
        sa.Column("acknowledged_at", UTC(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(255), nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        sa.UniqueConstraint("fingerprint", "starts_at", name="uq_alarms_fingerprint_start"),
    )
    op.create_index("ix_alarms_starts_at", "alarms", ["starts_at"])
    op.create_index("ix_alarms_status", "alarms", ["status", "severity"])
    op.create_index("ix_alarms_node", "alarms", ["node"])


def downgrade() -> None:
    op.drop_table("alarms")
