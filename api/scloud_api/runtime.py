"""What every process of the service holds, built once from the settings (:class:`Runtime`): the
state directory, the database engine and its sessions, the catalogue and the callback dispatcher.
The API process (:class:`.service.Services`) and a Celery worker (:class:`.celery_executor.Worker`)
each build one, so both see the same database, catalogue and callbacks the same way.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from .callbacks import CallbackDispatcher
from .catalogue import Catalogue
from .db import make_engine, make_sessionmaker, upgrade
from .schemas import callback_payload
from .settings import Settings


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.db_url)
        self.sm: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.catalogue = Catalogue(settings.catalogue, settings.playbooks)
        self.callbacks = CallbackDispatcher(settings, self.sm, callback_payload)

    def migrate(self) -> None:
        """Bring the database schema up to date, unless the operator migrates by hand."""
        if self.settings.auto_migrate:
            upgrade(self.engine)

    def close(self) -> None:
        self.callbacks.shutdown()
        self.engine.dispose()
