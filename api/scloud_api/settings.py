"""Settings of the service, read from the environment (prefix ``SCLOUD_API_``)."""

from __future__ import annotations

import ipaddress
import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# api/scloud_api/settings.py -> the repository root, which is the collection.
COLLECTION_ROOT = Path(__file__).resolve().parent.parent.parent


def _default_state_dir() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "scloud-api"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCLOUD_API_", extra="ignore")

    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Where the SQLite database, job data dirs and the webhook secret live.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite:///<state_dir>/scloud-api.db. "
        "PostgreSQL: postgresql+psycopg://user:pw@host/db",
    )
    auto_migrate: bool = Field(True, description="Run the Alembic migrations at start-up.")
    node_name: str = Field(
        default_factory=socket.gethostname,
        description="Name of this API node; jobs are owned by the node that runs them.",
    )

    collection_root: Path = COLLECTION_ROOT
    playbook_dir: Path | None = None
    catalogue_path: Path | None = None
    inventory: Path | None = Field(
        None, description="Inventory the jobs run against; default <root>/inventories/lab"
    )
    modules_dir: Path | None = None

    volume_connection: dict[str, str] = Field(
        default_factory=dict,
        description="Ceph connection options for PUT /v1/volumes jobs (cluster, conf, keyring, user); "
        "set by the operator, never by callers.",
    )
    vm_connection: dict[str, str] = Field(
        default_factory=dict, description="libvirt connection options for PUT /v1/vms jobs (uri)."
    )
    max_concurrent_jobs: int = Field(
        2, ge=1, le=64, description="Jobs run at once by this API process (local) or by each worker (celery)."
    )
    executor: Literal["local", "celery"] = Field(
        "local",
        description="local: jobs run in the API process; celery: the API enqueues them on the broker "
        "and `scloud-api worker` processes (on any node, same database) run them.",
    )
    broker_url: SecretStr | None = Field(
        None, description="Celery broker for executor=celery, e.g. amqp://user:pw@host:5672/vhost."
    )
    celery_queue: str = Field("scloud-jobs", min_length=1, max_length=200)
    job_lease_seconds: float = Field(
        30.0,
        ge=1,
        description="executor=celery: a running job whose worker has not renewed its heartbeat for "
        "this long is taken over by the worker the broker redelivers it to.",
    )
    job_timeout: int = Field(3600, ge=1, description="Seconds before a running job ends with status timeout.")
    keep_job_dirs: bool = False
    max_body_bytes: int = Field(1_048_576, ge=1024)

    callback_allowed_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    callback_allowed_hosts: list[str] = Field(default_factory=lambda: ["localhost"])
    callback_max_attempts: int = Field(6, ge=1, le=50)
    callback_backoff_initial: float = Field(1.0, ge=0)
    callback_backoff_max: float = Field(60.0, ge=0)
    callback_timeout: float = Field(10.0, gt=0)
    webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks secret (whsec_<base64>); default generated in the state dir."
    )

    idempotency_ttl_hours: int = Field(24, ge=24)
    idempotency_stale_seconds: int = Field(60, ge=1)

    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _broker(self) -> Settings:
        if self.executor == "celery" and not self.broker_url:
            raise ValueError("SCLOUD_API_BROKER_URL is required when SCLOUD_API_EXECUTOR is celery")
        return self

    @field_validator("callback_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    # Derived paths -------------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'scloud-api.db'}"

    @property
    def playbooks(self) -> Path:
        return self.playbook_dir or self.collection_root / "playbooks"

    @property
    def catalogue(self) -> Path:
        return self.catalogue_path or self.playbooks / "catalogue.yml"

    @property
    def inventory_path(self) -> Path:
        return self.inventory or self.collection_root / "inventories" / "lab"

    @property
    def modules_path(self) -> Path:
        return self.modules_dir or self.collection_root / "plugins" / "modules"

    @property
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"

    @property
    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(n, strict=False) for n in self.callback_allowed_networks]


@lru_cache
def get_settings() -> Settings:
    return Settings()
