"""the cloud's registry: nodes, resources, resource_claims

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 15:30:00
"""

from __future__ import annotations

import scloud_api.models
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = scloud_api.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("set_name", sa.String(255), nullable=True),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.Column("draining", sa.Boolean(), nullable=False),
        sa.Column("refreshed_at", UTC(timezone=True), nullable=False),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("observed", sa.JSON(), nullable=False),
        sa.Column("node", sa.String(255), nullable=True),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("placement", sa.JSON(), nullable=True),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("affinity_group", sa.String(255), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("observed_generation", sa.Integer(), nullable=False),
        sa.Column("last_job_id", sa.String(36), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
        sa.Column("observed_at", UTC(timezone=True), nullable=True),
        sa.UniqueConstraint("kind", "name", name="uq_resources_kind_name"),
    )
    op.create_index("ix_resources_node", "resources", ["node"])
    op.create_index("ix_resources_claims", "resources", ["kind", "node", "vcpus", "memory_mb"])
    op.create_index("ix_resources_group", "resources", ["kind", "affinity_group", "node"])
    op.create_table(
        "resource_claims",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "resource_id", sa.String(36), sa.ForeignKey("resources.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("value", sa.String(300), nullable=False),
        sa.UniqueConstraint("scope", "value", name="uq_resource_claims_scope_value"),
    )
    op.create_index("ix_resource_claims_resource_id", "resource_claims", ["resource_id"])


def downgrade() -> None:
    op.drop_table("resource_claims")
    op.drop_index("ix_resources_group", table_name="resources")
    op.drop_index("ix_resources_claims", table_name="resources")
    op.drop_index("ix_resources_node", table_name="resources")
    op.drop_table("resources")
    op.drop_table("nodes")
