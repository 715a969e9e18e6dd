"""RabbitMQ started for real on this machine: Debian's ``rabbitmq-server`` as root, every path in a
temp dir, its own node name, Erlang cookie, AMQP port and epmd port on 127.0.0.1 (so it disturbs
no other Erlang node of the host). Used by the RabbitMQ module tests and the Celery executor tests.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kombu

ERTS_EPMD = sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    url: str  # amqp:// as guest (the user Debian creates)
    node: str  # the Erlang node name, for rabbitmqctl -n
    start_seconds: float
    # What rabbitmqctl needs to reach this node: the cookie's home and the epmd port.
    ctl_env: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def running_broker() -> Iterator[Broker]:
    top = Path(tempfile.mkdtemp(prefix="scloud-rmq-"))
    port, dist_port, epmd_port = _free_port(), _free_port(), _free_port()
    cookie = top / ".erlang.cookie"
    cookie.write_text(secrets.token_hex(16))
    cookie.chmod(0o400)
    (top / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\n"
        # Messages stay unacknowledged while their job runs (acks_late): allow the job timeout.
        "consumer_timeout = 7200000\n"
        "disk_free_limit.absolute = 10MB\n"
    )
    (top / "enabled_plugins").write_text("[].\n")
    node = f"scloudtest{port}@localhost"
    ctl_env = {"HOME": str(top), "ERL_EPMD_PORT": str(epmd_port)}
    env = {
        "PATH": os.environ["PATH"],
        **ctl_env,
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(top / "mnesia"),
        "RABBITMQ_LOG_BASE": str(top / "log"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_CONFIG_FILE": str(top / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(top / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(top / "beam.pid"),
    }
    started = time.monotonic()
    epmd = subprocess.Popen(
        [str(ERTS_EPMD[-1]), "-port", str(epmd_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    log = (top / "rabbitmq.log").open("wb")
    server = subprocess.Popen(
        [str(RABBITMQ_SERVER)], cwd=top, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"amqp://guest:guest@127.0.0.1:{port}//"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (top / "rabbitmq.log").read_text()[-3000:]
            try:
                with kombu.Connection(url, connect_timeout=1) as conn:
                    conn.connect()
                break
            except Exception:
                assert time.monotonic() < deadline, (top / "rabbitmq.log").read_text()[-3000:]
                time.sleep(0.3)
        broker = Broker(url=url, node=node, start_seconds=time.monotonic() - started, ctl_env=ctl_env)
        print(f"\nRabbitMQ started on 127.0.0.1:{port} in {broker.start_seconds:.2f}s")
        yield broker
    finally:
        pid_file = top / "beam.pid"
        if pid_file.exists() and pid_file.read_text().strip():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        epmd.terminate()
        epmd.wait(timeout=10)
        log.close()
        subprocess.run(["rm", "-rf", str(top)], check=False)
