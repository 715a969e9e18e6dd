"""alarm subscriptions and their outbox of signed callbacks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

import scloud_api.models
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC = scloud_api.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "alarm_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("severities", sa.JSON(), nullable=False),
        sa.Column("alarms", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
    )
    op.create_table(
        "alarm_notices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.String(36),
            sa.ForeignKey("alarm_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("alarm_id", sa.String(36), sa.ForeignKey("alarms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("last_at", UTC(timezone=True), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.UniqueConstraint("subscription_id", "alarm_id", "event", name="uq_alarm_notices_once"),
    )
    op.create_index("ix_alarm_notices_subscription_id", "alarm_notices", ["subscription_id"])
    op.create_index("ix_alarm_notices_pending", "alarm_notices", ["node", "delivered", "created_at"])


def downgrade() -> None:
    op.drop_table("alarm_notices")
    op.drop_table("alarm_subscriptions")
