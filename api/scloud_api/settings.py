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
_V4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


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

    # The cloud's registry (PUT /v1/vms, /v1/volumes, /v1/vpcs, ...) -------------------------------
    service_group: str = Field(
        "mgmt",
        min_length=1,
        description="Inventory group whose hosts run volume and network jobs (Ceph client, OVN NB remotes).",
    )
    service_node: str | None = Field(
        None,
        description="The host of the job inventory that runs volume and network jobs; default: this API "
        "node when it is in service_group, else the first host of that group.",
    )
    public_network: dict[str, str] | None = Field(
        None,
        description='The public (provider) network of VPC gateways and public IPs: {"name": "public", '
        '"cidr": "192.0.2.0/24", "gateway": "192.0.2.1"}; none: VPCs without external gateway.',
    )
    volume_pools: list[str] = Field(
        default_factory=list,
        description="Ceph pools volumes may be created in (the compute nodes' libvirt client can use "
        "only these); empty: any pool.",
    )
    monitoring_group: str = Field(
        "mgmt",
        min_length=1,
        description="Inventory group of the Prometheus servers: where alarm rules made through the API "
        "are rolled out (PUT /v1/alarm-rules/{name}).",
    )
    promtool: str = Field(
        "promtool",
        min_length=1,
        description="Prometheus' promtool, which checks an alarm rule before it is recorded.",
    )
    backup_pools: list[str] = Field(
        default_factory=list,
        description="Pools backup plans may write to (PUT /v1/backups/{name}); empty: any pool but the "
        "volume's.",
    )
    backup_tick_seconds: int = Field(
        30,
        ge=0,
        description="How often each API node looks for backup plans that are due (every_minutes); 0: never "
        "(backups on request only).",
    )
    prometheus_urls: list[str] = Field(
        default_factory=list,
        description="Prometheus servers the metrics routes read (GET /v1/nodes/{name}/metrics, "
        "/v1/vms/{name}/metrics), tried in order; empty: those routes answer 503.",
    )
    vm_ceph_user: str = Field(
        "libvirt",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Ceph user of the compute nodes' libvirt secret (libvirt role: libvirt_ceph_client).",
    )
    refresh_nodes_at_start: bool = Field(
        True, description="Read the compute nodes' capacity when the API starts and knows none."
    )
    reconcile_seconds: int = Field(
        300,
        ge=0,
        description="Every so often (one API node at a time) the nodes job reads every compute node's "
        "capacity and domains, and the VM records show what libvirt shows (drift); 0: only on request.",
    )
    cpu_allocation_ratio: float = Field(4.0, gt=0, le=64, description="vCPUs placed per physical vCPU.")
    ram_allocation_ratio: float = Field(1.0, gt=0, le=4, description="Memory placed per MiB of a node.")
    reserved_host_memory_mb: int = Field(512, ge=0, description="Memory of each node kept for itself.")
    scheduler_weigher: Literal["spread", "pack"] = Field(
        "spread", description="spread: the node with the most free memory first; pack: the least."
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
    max_json_depth: int = Field(
        64,
        ge=4,
        le=512,
        description="Deepest nesting of arrays and objects in a JSON body; deeper is 400 malformed_json.",
    )
    max_queued_jobs: int = Field(
        1000,
        ge=1,
        description="Jobs waiting for a slot (local: in this process; celery: queued in the database) "
        "before POST /v1/jobs and resource PUTs answer 503 with Retry-After.",
    )

    # Callbacks are an SSRF surface: nothing is called until the operator lists where receivers are.
    callback_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Networks callback receivers may be in (JSON list of CIDRs); every address a "
        "callback connects to must be inside one. Loopback, link-local, unspecified, multicast and "
        "broadcast addresses need an entry of their own (e.g. 127.0.0.0/8): 0.0.0.0/0 does not cover them.",
    )
    callback_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names callback URLs may have (globs: *.hooks.example); the addresses a name "
        "resolves to must still be in callback_allowed_networks.",
    )
    callback_max_attempts: int = Field(6, ge=1, le=50)
    callback_backoff_initial: float = Field(1.0, ge=0)
    callback_backoff_max: float = Field(60.0, ge=0)
    callback_retry_seconds: float = Field(
        900.0, gt=0, le=86400, description="No attempt of a message starts later than this after its first."
    )
    callback_connect_timeout: float = Field(
        3.0, gt=0, le=60, description="Seconds to resolve a receiver's name and to connect to it."
    )
    callback_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds an attempt may take in all, from resolution to the status."
    )
    callback_max_per_host: int = Field(
        2, ge=1, le=64, description="Attempts in flight at once to one receiver (scheme, host, port)."
    )
    callback_max_in_flight: int = Field(16, ge=1, le=1024, description="Attempts in flight at once in all.")
    callback_ca_file: Path | None = Field(
        None, description="CA bundle (PEM) receivers' certificates are verified with; default the public CAs."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks secret (whsec_<base64>); default generated in the state dir."
    )

    idempotency_ttl_hours: int = Field(24, ge=24)
    idempotency_stale_seconds: int = Field(60, ge=1)

    host: str = "127.0.0.1"
    port: int = 8080
    keep_alive_seconds: int = Field(
        75, ge=1, le=3600, description="Idle HTTP keep-alive; longer than the proxy's (HAProxy: 60 s)."
    )
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _broker(self) -> Settings:
        if self.executor == "celery" and not self.broker_url:
            raise ValueError("SCLOUD_API_BROKER_URL is required when SCLOUD_API_EXECUTOR is celery")
        return self

    @field_validator("public_network")
    @classmethod
    def _public(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        missing = {"name", "cidr", "gateway"} - set(value)
        if missing:
            raise ValueError(f"public_network needs {', '.join(sorted(missing))}")
        net = ipaddress.IPv4Network(value["cidr"], strict=True)
        if ipaddress.IPv4Address(value["gateway"]) not in net:
            raise ValueError(f"public_network gateway {value['gateway']} is not in {net}")
        return {"name": value["name"], "cidr": str(net), "gateway": value["gateway"]}

    @field_validator("callback_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    @field_validator("callback_allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not host or any(c in host for c in "/:@[] ") or any(ord(c) < 32 for c in host):
                raise ValueError(f"{host!r} is not a host name or glob (no scheme, port or path)")
        return [h.lower() for h in value]

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
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"

    @property
    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        nets = []
        for n in self.callback_allowed_networks:
            net = ipaddress.ip_network(n, strict=False)
            # ::ffff:a.b.c.d/N is an IPv4 network: compared with the unmapped address that is called.
            if net.version == 6 and net.prefixlen >= 96 and net.subnet_of(_V4_MAPPED):
                net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
            nets.append(net)
        return nets


@lru_cache
def get_settings() -> Settings:
    return Settings()
