# Copyright: SCloudStack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring the API database to the head revision; print JSON with ``changed``, ``before``, ``after``.

Runs with the API's virtualenv and environment (SCLOUD_API_DATABASE_URL), so Ansible reports a
change only when a migration was applied.
"""

from __future__ import annotations

import json
import sys

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from scloud_api.db import alembic_config, make_engine, upgrade
from scloud_api.settings import get_settings


def current(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(MigrationContext.configure(conn).get_current_heads())


def main() -> int:
    settings = get_settings()
    engine = make_engine(settings.db_url)
    heads = sorted(ScriptDirectory.from_config(alembic_config(settings.db_url)).get_heads())
    before = current(engine)
    if before != heads:
        upgrade(engine)
    after = current(engine)
    json.dump({"changed": before != after, "before": before, "after": after, "head": heads}, sys.stdout)
    return 0 if after == heads else 1


if __name__ == "__main__":
    sys.exit(main())
