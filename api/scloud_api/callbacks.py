"""Signed callbacks (Standard Webhooks) on every terminal state of a job and on every change of an
alarm a subscription asked for (``AlarmNotice``, the alarms' outbox), retried with backoff.

Each message has one ``webhook-id`` kept across its retries; every attempt is signed afresh with its
own ``webhook-timestamp`` over ``{id}.{timestamp}.{body}`` (HMAC-SHA256, ``v1,<base64>``) and is
recorded on the job.

Only the operator's allow-list is ever called, and it is checked on the address actually connected
to: each attempt resolves the URL's host name once, checks every address it resolves to, and
connects to a checked address (the name is not resolved again, so DNS rebinding between the check
and the connection changes nothing). Loopback, link-local, unspecified, multicast and broadcast
addresses are refused unless the operator lists a network of that kind explicitly.

Deliveries run as coroutines on one asyncio loop in a thread of their own: a receiver that is slow
holds at most ``callback_max_per_host`` attempts in flight, never a thread and never a slot of the
other receivers; a message waiting for its backoff costs a timer, not a thread.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

import httpx
from sqlalchemy.orm import Session, sessionmaker

from . import metrics
from .errors import Invalid
from .models import AlarmNotice, CallbackAttempt, Job, utcnow
from .settings import Settings

log = logging.getLogger("scloud_api.callbacks")


# Secrets and signatures ----------------------------------------------------------------------------
def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def load_or_create_secret(settings: Settings) -> str:
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    path: Path = settings.state_dir / "webhook-secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    fd_path = path.with_suffix(".tmp")
    fd_path.write_text(secret + "\n")
    fd_path.chmod(0o600)
    fd_path.replace(path)
    return secret


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, ts = h.get("webhook-id", ""), h.get("webhook-timestamp", "")
    if not msg_id or not ts.isdigit() or abs(time.time() - int(ts)) > tolerance:
        return False
    expected = sign(secret, msg_id, int(ts), body).split(",", 1)[1]
    for candidate in h.get("webhook-signature", "").split():
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


# Allow-list ----------------------------------------------------------------------------------------
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Addresses that reach this machine or its link rather than a receiver somewhere (0.0.0.0 connects
# to the local host on Linux; 169.254.169.254 is the cloud metadata service): called only when the
# operator lists a network inside one of these, never through a broad entry such as 0.0.0.0/0.
SPECIAL_NETWORKS: tuple[tuple[str, IPNetwork], ...] = tuple(
    (kind, ipaddress.ip_network(net))
    for kind, net in (
        ("unspecified", "0.0.0.0/8"),
        ("loopback", "127.0.0.0/8"),
        ("link-local", "169.254.0.0/16"),
        ("multicast", "224.0.0.0/4"),
        ("broadcast", "255.255.255.255/32"),
        ("unspecified", "::/128"),
        ("loopback", "::1/128"),
        ("link-local", "fe80::/10"),
        ("multicast", "ff00::/8"),
    )
)


class Refused(Exception):
    """A callback URL or address the allow-list does not allow (``rule`` as in the 422 errors)."""

    def __init__(self, rule: str, msg: str):
        super().__init__(msg)
        self.rule, self.msg = rule, msg


def canonical_address(addr: IPAddress) -> IPAddress:
    """The address a connection really goes to: ``::ffff:127.0.0.1`` is ``127.0.0.1``."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.scope_id:  # fe80::1%eth0: the zone does not change which network it is in
            return ipaddress.IPv6Address(str(addr).split("%", 1)[0])
    return addr


def special_network(addr: IPAddress) -> tuple[str, IPNetwork] | None:
    addr = canonical_address(addr)
    for kind, net in SPECIAL_NETWORKS:
        if addr.version == net.version and addr in net:
            return kind, net
    return None


def address_refusal(addr: IPAddress, networks: list[IPNetwork]) -> str | None:
    """Why ``addr`` may not be called with these allowed networks, or None when it may."""
    ip = canonical_address(addr)
    shown = f"{addr} ({ip})" if ip != addr else str(addr)
    covering = [n for n in networks if n.version == ip.version and ip in n]
    special = special_network(ip)
    if special is not None:
        kind, net = special
        if any(n.subnet_of(net) for n in covering):  # type: ignore[arg-type]  # same version
            return None
        return (
            f"address {shown} is {kind}: called only if the allowed callback networks list it "
            f"explicitly (e.g. {net}), which they do not"
        )
    if covering:
        return None
    return f"address {shown} is not in an allowed callback network"


def _host_allowed(host: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(host.lower(), p.lower()) for p in patterns)


def check_url(url: str, settings: Settings) -> httpx.URL:
    """The URL as it will be requested, if its form and its host are allowed; else ``Refused``.

    httpx parses it here as it does when it connects, so the check and the request never read two
    different hosts out of one string. A host name's addresses are checked when it is called.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise Refused("url", "control characters are not allowed in a URL")
    if len(url) > 2000:
        raise Refused("max_length", "must be at most 2000 characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise Refused("url", f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise Refused("scheme", "scheme must be http or https")
    if not parsed.host:
        raise Refused("url", "the URL has no host")
    if parsed.userinfo:
        raise Refused("url", "credentials in the URL are not allowed")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise Refused("url", f"port {parsed.port} is not between 1 and 65535")
    networks = settings.allowed_networks
    if not networks and not settings.callback_allowed_hosts:
        raise Refused(
            "allow_list",
            "the URL is not on the callback allow-list: the operator has allowed no callback receiver",
        )
    try:
        addr = ipaddress.ip_address(parsed.host)
    except ValueError:
        if not _host_allowed(parsed.host, settings.callback_allowed_hosts):
            raise Refused("allow_list", f"host {parsed.host} is not on the callback allow-list") from None
        if not networks:
            raise Refused(
                "allow_list",
                f"host {parsed.host} is allowed but no callback network is, so none of its addresses is",
            ) from None
        return parsed
    reason = address_refusal(addr, networks)
    if reason is not None:
        raise Refused("allow_list", reason)
    return parsed


def check_callback_url(url: str, settings: Settings, loc: list[str] | None = None) -> str:
    """Early refusal at submission (422 naming the field); delivery checks again, on the address."""
    try:
        check_url(url, settings)
    except Refused as exc:
        raise Invalid(
            f"callback URL refused: {exc.msg}",
            errors=[{"loc": loc or ["body", "callback_url"], "rule": exc.rule, "msg": exc.msg}],
            code="callback_url_refused",
        ) from None
    return url


def checked_addresses(url: httpx.URL, infos: list[tuple], networks: list[IPNetwork]) -> list[IPAddress]:
    """The addresses of ``getaddrinfo`` answers, in order, if every one is allowed; else ``Refused``.

    One refused address refuses the name: a name that points at an internal address is not a
    receiver, whichever of its addresses would have been tried first.
    """
    addrs: list[IPAddress] = []
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr not in addrs:
            addrs.append(addr)
    if not addrs:
        raise Refused("allow_list", f"host {url.host} resolves to no address")
    for addr in addrs:
        reason = address_refusal(addr, networks)
        if reason is not None:
            raise Refused("allow_list", f"host {url.host} resolves to {addr}: {reason}")
    return addrs


def pinned_request(url: httpx.URL, addr: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """URL, headers and request extensions that connect to ``addr`` and nowhere else.

    The host name stays in the ``Host`` header and, for https, in SNI and in the certificate check
    (httpx's documented ``sni_hostname`` request extension: it is the server_hostname of the TLS
    handshake, so verification is against the name). This keeps httpx's own transport, TLS and
    timeouts instead of a custom network backend, which would depend on httpcore internals.
    """
    try:
        ipaddress.ip_address(url.host)
        return url, {}, {}  # an address already: nothing to pin
    except ValueError:
        pass
    host = str(addr).split("%", 1)[0] if addr.version == 6 else str(addr)
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    return url.copy_with(host=host), {"host": url.netloc.decode("ascii")}, extensions


def origin(url: str) -> str:
    """The receiver an attempt counts against: scheme, host and port, as the URL gives them."""
    try:
        parsed = httpx.URL(url)
        return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
    except (httpx.InvalidURL, ValueError):
        return url


# Delivery ------------------------------------------------------------------------------------------
Kind = Literal["job", "notice"]


@dataclass(frozen=True)
class Message:
    """One terminal state of one job, or one alarm notice, to deliver: the same id and body across
    its attempts."""

    kind: Kind
    ref: str  # the job's id, or the notice's
    status: str  # the job's status, or the notice's event
    msg_id: str
    url: str
    body: bytes
    attempts: int  # made already (by this process or one before it)
    first_at: float  # epoch seconds of the first attempt, or now: the retry window starts there

    @property
    def log_extra(self) -> dict[str, str]:
        return {"job_id": self.ref} if self.kind == "job" else {"notice_id": self.ref}


@dataclass
class _Result:
    attempt: int
    http_status: int | None = None
    error: str | None = None
    duration_ms: int | None = None
    delivered: bool = False


@dataclass
class _Receiver:
    slots: asyncio.Semaphore
    users: int = 0


Outcome = Literal["delivered", "failed", "refused", "skipped"]


class CallbackDispatcher:
    """Delivers callbacks, at least once per terminal state, on an asyncio loop in its own thread.

    ``dispatch(job_id)`` and ``dispatch_notice(notice_id)`` return at once; ``deliver(job_id)`` (the
    Celery worker's) waits for the outcome. An attempt holds a slot of its receiver
    (``callback_max_per_host``) and one of the process (``callback_max_in_flight``), in that order,
    so messages queued for a slow receiver wait without holding the slots other receivers need.
    Database reads and writes and name resolution run in small thread pools of their own, so they
    never block the loop.
    """

    def __init__(self, settings: Settings, sm: sessionmaker[Session], payload: Callable[[Job], dict]):
        self.settings = settings
        self.sm = sm
        self.payload = payload
        self.secret = load_or_create_secret(settings)
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._tasks: dict[tuple[Kind, str], asyncio.Task] = {}
        self._receivers: dict[str, _Receiver] = {}
        self._in_flight = asyncio.Semaphore(settings.callback_max_in_flight)
        self._stopping = asyncio.Event()
        self._db = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="callback-db")
        # A resolution is made inside a process slot: this many threads never make one wait.
        self._dns = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.callback_max_in_flight, thread_name_prefix="callback-dns"
        )
        verify: ssl.SSLContext | bool = True
        if settings.callback_ca_file is not None:
            verify = ssl.create_default_context(cafile=str(settings.callback_ca_file))
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.callback_timeout, connect=settings.callback_connect_timeout),
            follow_redirects=False,  # a redirect would lead to an address nobody checked
            trust_env=False,  # an HTTP(S)_PROXY from the environment would connect elsewhere
            verify=verify,
            # No keep-alive: a pooled connection is keyed by address, and reusing one made for
            # another name would skip this name's certificate check. Callbacks are rare enough.
            limits=httpx.Limits(max_connections=settings.callback_max_in_flight, max_keepalive_connections=0),
            headers={"user-agent": "scloud-api-webhooks/1"},
        )
        self._thread = threading.Thread(target=self._loop.run_forever, name="callbacks", daemon=True)
        self._thread.start()

    # Entry points (any thread) -------------------------------------------------------------------
    def dispatch(self, job_id: str) -> None:
        self._dispatch(("job", job_id))

    def dispatch_notice(self, notice_id: str) -> None:
        self._dispatch(("notice", notice_id))

    def _dispatch(self, key: tuple[Kind, str]) -> None:
        if self._closed:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(self._ensure, key)

    def deliver(self, job_id: str) -> None:
        """Deliver the job's callback (or give up) before returning."""
        if self._closed:
            return
        future = asyncio.run_coroutine_threadsafe(self._join(("job", job_id)), self._loop)
        with contextlib.suppress(concurrent.futures.CancelledError):
            future.result()

    def shutdown(self) -> None:
        """No new attempt starts; running ones get ``callback_timeout`` to end, then are cut off
        (recorded as interrupted). Undelivered messages are sent again by the next start."""
        if self._closed:
            return
        self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._drain(), self._loop).result(
                timeout=self.settings.callback_timeout + 30
            )
        except Exception:
            log.exception("callback dispatcher did not drain")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        if not self._thread.is_alive():
            self._loop.close()
        self._dns.shutdown(wait=False, cancel_futures=True)  # a hung resolver must not hold the stop
        self._db.shutdown(wait=True)

    # On the loop ---------------------------------------------------------------------------------
    def _ensure(self, key: tuple[Kind, str]) -> asyncio.Task:
        """One delivery task per message source at a time: a second dispatch joins the first."""
        task = self._tasks.get(key)
        if task is None:
            task = self._loop.create_task(self._deliver_safe(key), name=f"callback-{key[0]}-{key[1]}")
            self._tasks[key] = task

            def forget(done: asyncio.Task) -> None:
                if self._tasks.get(key) is done:
                    del self._tasks[key]

            task.add_done_callback(forget)
        return task

    async def _join(self, key: tuple[Kind, str]) -> None:
        await asyncio.shield(self._ensure(key))

    async def _drain(self) -> None:
        self._stopping.set()
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.settings.callback_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.client.aclose()

    async def _in_db(self, fn: Callable, *args):
        return await self._loop.run_in_executor(self._db, fn, *args)

    async def _deliver_safe(self, key: tuple[Kind, str]) -> None:
        try:
            await self._deliver(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("callback delivery crashed", extra={"source": key[0], "ref": key[1]})

    def _backoff(self, attempt: int) -> float:
        base = min(
            self.settings.callback_backoff_max, self.settings.callback_backoff_initial * 2 ** (attempt - 1)
        )
        # "Equal jitter": at least half the exponential delay, plus a random share of the rest.
        return base / 2 + random.uniform(0, base / 2)  # noqa: S311 - jitter, not a secret

    def _load(self, key: tuple[Kind, str]) -> Message | None:
        kind, ref = key
        if kind == "notice":
            return self._load_notice(ref)
        job_id = ref
        with self.sm() as s:
            job = s.get(Job, job_id)
            if job is None or not job.callback_url:
                return None
            status = job.status
            done = [a for a in job.callback_attempts if a.job_status == status]
            done.sort(key=lambda a: a.attempt)
            if any(a.delivered for a in done) or len(done) >= self.settings.callback_max_attempts:
                return None
            body = json.dumps(
                {"type": f"job.{status}", "timestamp": utcnow().isoformat(), "data": self.payload(job)},
                separators=(",", ":"),
            ).encode()
            return Message(
                kind="job",
                ref=job_id,
                status=status,
                msg_id=done[0].webhook_id if done else f"msg_{uuid.uuid4().hex}",
                url=job.callback_url,
                body=body,
                attempts=len(done),
                first_at=done[0].at.timestamp() if done else time.time(),
            )

    def _load_notice(self, notice_id: str) -> Message | None:
        with self.sm() as s:
            notice = s.get(AlarmNotice, notice_id)
            if notice is None or notice.delivered or notice.attempts >= self.settings.callback_max_attempts:
                return None
            return Message(
                kind="notice",
                ref=notice.id,
                status=notice.event,
                msg_id=notice.id,
                url=notice.url,
                body=notice.body.encode(),
                attempts=notice.attempts,
                first_at=notice.created_at.timestamp(),
            )

    async def _deliver(self, key: tuple[Kind, str]) -> None:
        msg = await self._in_db(self._load, key)
        if msg is None:
            return
        deadline = msg.first_at + self.settings.callback_retry_seconds
        attempt, outcome = msg.attempts, "skipped"
        while attempt < self.settings.callback_max_attempts and not self._stopping.is_set():
            outcome = await self._attempt(msg, attempt + 1, deadline)
            if outcome == "skipped":
                break
            attempt += 1
            if outcome in ("delivered", "refused"):  # a refusal stays one until the operator's list changes
                return
            delay = self._backoff(attempt)
            if attempt >= self.settings.callback_max_attempts or time.time() + delay >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        if not self._stopping.is_set():
            log.warning("callback not delivered", extra={**msg.log_extra, "attempts": attempt})

    @contextlib.asynccontextmanager
    async def _slot(self, url: str) -> AsyncIterator[None]:
        key = origin(url)
        receiver = self._receivers.get(key)
        if receiver is None:
            receiver = _Receiver(asyncio.Semaphore(self.settings.callback_max_per_host))
            self._receivers[key] = receiver
        receiver.users += 1
        try:
            async with receiver.slots, self._in_flight:
                yield
        finally:
            receiver.users -= 1
            if receiver.users == 0:
                del self._receivers[key]

    async def _attempt(self, msg: Message, attempt: int, deadline: float) -> Outcome:
        rec = _Result(attempt=attempt)
        outcome: Outcome = "failed"
        address = None
        async with self._slot(msg.url):
            # Waiting for a slot may have outlasted the stop or the retry window.
            if self._stopping.is_set() or (attempt > 1 and time.time() >= deadline):
                return "skipped"
            start = time.monotonic()
            try:
                async with asyncio.timeout(self.settings.callback_timeout):
                    rec.http_status, address = await self._post(msg)
                rec.delivered = 200 <= rec.http_status < 300
                outcome = "delivered" if rec.delivered else "failed"
                if not rec.delivered:
                    rec.error = f"HTTP {rec.http_status}"
            except Refused as exc:
                rec.error, outcome = f"refused: {exc.msg}", "refused"
            except TimeoutError:
                rec.error = f"timeout: no answer within {self.settings.callback_timeout:g} s"
            except httpx.HTTPError as exc:
                rec.error = f"{type(exc).__name__}: {exc}"[:1000]
            except OSError as exc:  # getaddrinfo: the name does not resolve (now)
                rec.error = f"{type(exc).__name__}: {exc}"[:1000]
            except asyncio.CancelledError:
                rec.error = "interrupted: the API stopped during the attempt"
                rec.duration_ms = int((time.monotonic() - start) * 1000)
                self._record(msg, rec)  # the loop is stopping: a blocking write is fine now
                raise
            rec.duration_ms = int((time.monotonic() - start) * 1000)
        await self._in_db(self._record, msg, rec)
        metrics.CALLBACK_ATTEMPTS.labels(outcome="delivered" if rec.delivered else outcome).inc()
        log.info(
            "callback attempt",
            extra={
                **msg.log_extra,
                "attempt": attempt,
                "address": str(address) if address else None,
                "http_status": rec.http_status,
                "delivered": rec.delivered,
                "error": rec.error,
            },
        )
        return outcome

    def _record(self, msg: Message, rec: _Result) -> None:
        with self.sm.begin() as s:
            if msg.kind == "job":
                s.add(
                    CallbackAttempt(
                        job_id=msg.ref,
                        webhook_id=msg.msg_id,
                        job_status=msg.status,
                        attempt=rec.attempt,
                        url=msg.url,
                        http_status=rec.http_status,
                        error=rec.error,
                        duration_ms=rec.duration_ms,
                        delivered=rec.delivered,
                    )
                )
                return
            notice = s.get(AlarmNotice, msg.ref)
            if notice is None:
                return  # its subscription was deleted meanwhile
            notice.attempts = max(notice.attempts, rec.attempt)
            notice.delivered = notice.delivered or rec.delivered
            notice.last_at, notice.http_status = utcnow(), rec.http_status
            notice.error, notice.duration_ms = rec.error, rec.duration_ms

    async def _resolve(self, url: httpx.URL) -> list[IPAddress]:
        networks = self.settings.allowed_networks
        try:
            addr = ipaddress.ip_address(url.host)
        except ValueError:
            pass
        else:
            reason = address_refusal(addr, networks)
            if reason is not None:
                raise Refused("allow_list", reason)
            return [addr]
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await asyncio.wait_for(
                self._loop.run_in_executor(
                    self._dns, socket.getaddrinfo, url.raw_host.decode("ascii"), port, 0, socket.SOCK_STREAM
                ),
                self.settings.callback_connect_timeout,
            )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"resolving {url.host} took more than {self.settings.callback_connect_timeout:g} s"
            ) from None
        return checked_addresses(url, infos, networks)

    async def _post(self, msg: Message) -> tuple[int, IPAddress]:
        url = check_url(msg.url, self.settings)  # the allow-list may have changed since submission
        addrs = await self._resolve(url)
        ts = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg.msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.secret, msg.msg_id, ts, msg.body),
        }
        error: httpx.HTTPError = httpx.ConnectError(f"no address of {url.host} to connect to")
        for addr in addrs:  # every one checked; the next only if this one takes no connection
            target, pinned, extensions = pinned_request(url, addr)
            try:
                # Streamed and never read: a receiver cannot make the API hold a large answer.
                async with self.client.stream(
                    "POST", target, content=msg.body, headers={**headers, **pinned}, extensions=extensions
                ) as resp:
                    return resp.status_code, addr
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error = exc
        raise error
