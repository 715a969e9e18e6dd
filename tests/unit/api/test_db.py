"""scloud_api.db: the migrations build the schema the models describe."""

from __future__ import annotations


def test_migrations_match_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from scloud_api.db import make_engine, upgrade
    from scloud_api.models import Base

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
