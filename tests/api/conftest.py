"""Fixtures of the API tier: a real PostgreSQL server, the service on a loopback port, API keys.

Every test that takes ``api`` runs twice: on SQLite (the embedded default) and on a PostgreSQL
server this session starts (initdb + pg_ctl as the ``postgres`` user, on a free loopback port).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from scloud_api.app import create_app
from scloud_api.auth import create_key
from scloud_api.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
TERMINAL = {"successful", "failed", "canceled", "timeout"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# PostgreSQL ------------------------------------------------------------------------------------------
@dataclass
class PgServer:
    port: int
    datadir: Path

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server():
    pg = pwd.getpwnam("postgres")
    top = Path(tempfile.mkdtemp(prefix="scloud-pg-"))
    os.chown(top, pg.pw_uid, pg.pw_gid)
    datadir, sockdir = top / "data", top / "sock"
    port = free_port()

    def as_postgres(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, check=True, cwd=top
        )

    started = time.monotonic()
    as_postgres("mkdir", "-m", "0700", str(sockdir))
    as_postgres(
        str(PG_BIN / "initdb"),
        "-D",
        str(datadir),
        "-U",
        "postgres",
        "--auth=trust",
        "--no-sync",
        "-E",
        "UTF8",
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockdir} -c fsync=off -c max_connections=200"
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(top / "log"), "-w", "start")
    server = PgServer(port=port, datadir=datadir)
    server.start_seconds = time.monotonic() - started
    print(f"\nPostgreSQL 15 started on 127.0.0.1:{port} in {server.start_seconds:.2f}s")
    try:
        yield server
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(datadir),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'scloud-api.db'}"
    return request.getfixturevalue("postgres_server").create_database()


# Inventory -------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def inventory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inventory") / "hosts.ini"
    path.write_text("[lab]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n")
    return path


# The service ---------------------------------------------------------------------------------------
@dataclass
class Api:
    url: str
    settings: Settings
    app: object
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def services(self):
        return self.app.state.services

    def client(self, role: str | None = "operator", **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)

    def wait(self, job_id: str, until=TERMINAL, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        with self.client("viewer") as c:
            while True:
                job = c.get(f"/v1/jobs/{job_id}").json()
                if job["status"] in until:
                    return job
                if time.monotonic() > deadline:
                    raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")
                time.sleep(0.2)


def make_settings(tmp_path: Path, db_url: str, inventory: Path, **overrides) -> Settings:
    values = dict(
        state_dir=tmp_path / "state",
        database_url=db_url,
        inventory=inventory,
        node_name=f"test-{uuid.uuid4().hex[:8]}",
        # Nothing is called unless listed: the receivers of these tests are on loopback.
        callback_allowed_networks=["127.0.0.0/8"],
        callback_backoff_initial=0.05,
        callback_backoff_max=0.5,
        callback_max_attempts=5,
        webhook_secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        max_body_bytes=65536,
        log_level="WARNING",
        # The tests that need the nodes read them (POST /v1/nodes/refresh) or write them.
        refresh_nodes_at_start=False,
        reconcile_seconds=0,
    )
    values.update(overrides)
    return Settings(**values)


class ServerThread:
    def __init__(self, app, port: int):
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=60)


@pytest.fixture
def api_factory(tmp_path, db_url, inventory):
    """Start the service with setting overrides; several calls share one database."""
    servers = []

    def start(**overrides) -> Api:
        settings = make_settings(tmp_path, db_url, overrides.pop("inventory", inventory), **overrides)
        app = create_app(settings)
        port = free_port()
        srv = ServerThread(app, port).__enter__()
        servers.append(srv)
        api = Api(url=f"http://127.0.0.1:{port}", settings=settings, app=app)
        with api.services.sm.begin() as s:
            for role in ("viewer", "operator", "admin"):
                _, api.tokens[role] = create_key(s, role, f"test-{role}")
        return api

    yield start
    for srv in reversed(servers):
        srv.__exit__(None, None, None)


@pytest.fixture
def api(api_factory) -> Api:
    return api_factory()
