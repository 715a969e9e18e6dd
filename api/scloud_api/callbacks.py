"""Signed callbacks (Standard Webhooks) on every terminal state of a job, retried with backoff.

Each message has one ``webhook-id`` kept across its retries; every attempt is signed afresh with its
own ``webhook-timestamp`` over ``{id}.{timestamp}.{body}`` (HMAC-SHA256, ``v1,<base64>``) and is
recorded on the job. Only hosts and networks of the operator's allow-list are ever called.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy.orm import Session, sessionmaker

from . import metrics
from .errors import Invalid
from .models import CallbackAttempt, Job, utcnow
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
def check_callback_url(url: str, settings: Settings, loc: list[str] | None = None) -> str:
    loc = loc or ["body", "callback_url"]

    def bad(rule: str, msg: str) -> Invalid:
        return Invalid(
            f"callback URL refused: {msg}",
            errors=[{"loc": loc, "rule": rule, "msg": msg}],
            code="callback_url_refused",
        )

    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise bad("url", "control characters are not allowed in a URL")
    if len(url) > 2000:
        raise bad("max_length", "must be at most 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad("url", f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise bad("scheme", "scheme must be http or https")
    host = parts.hostname
    if not host:
        raise bad("url", "the URL has no host")
    if parts.username or parts.password:
        raise bad("url", "credentials in the URL are not allowed")
    del port
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        if any(fnmatchcase(host.lower(), h.lower()) for h in settings.callback_allowed_hosts):
            return url
        raise bad("allow_list", f"host {host} is not on the callback allow-list") from None
    if any(addr in net for net in settings.allowed_networks):
        return url
    raise bad("allow_list", f"address {addr} is not in an allowed callback network")


# Delivery ------------------------------------------------------------------------------------------
class CallbackDispatcher:
    """Delivers callbacks on a small thread pool; at least once per terminal state."""

    def __init__(self, settings: Settings, sm: sessionmaker[Session], payload: Callable[[Job], dict]):
        self.settings = settings
        self.sm = sm
        self.payload = payload
        self.secret = load_or_create_secret(settings)
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="callback")
        self._stop = threading.Event()
        self.client = httpx.Client(
            timeout=settings.callback_timeout,
            follow_redirects=False,
            headers={"user-agent": "scloud-api-webhooks/1"},
        )

    def dispatch(self, job_id: str) -> None:
        if not self._stop.is_set():
            self.pool.submit(self._deliver_safe, job_id)

    def _deliver_safe(self, job_id: str) -> None:
        try:
            self.deliver(job_id)
        except Exception:
            log.exception("callback delivery crashed", extra={"job_id": job_id})

    def _backoff(self, attempt: int) -> float:
        base = min(
            self.settings.callback_backoff_max, self.settings.callback_backoff_initial * 2 ** (attempt - 1)
        )
        # "Equal jitter": at least half the exponential delay, plus a random share of the rest.
        return base / 2 + random.uniform(0, base / 2)  # noqa: S311 - jitter, not a secret

    def deliver(self, job_id: str) -> None:
        with self.sm() as s:
            job = s.get(Job, job_id)
            if job is None or not job.callback_url:
                return
            status = job.status
            done = [a for a in job.callback_attempts if a.job_status == status]
            if any(a.delivered for a in done) or len(done) >= self.settings.callback_max_attempts:
                return
            msg_id = done[0].webhook_id if done else f"msg_{uuid.uuid4().hex}"
            body = json.dumps(
                {"type": f"job.{status}", "timestamp": utcnow().isoformat(), "data": self.payload(job)},
                separators=(",", ":"),
            ).encode()
            url = job.callback_url
            attempt = len(done)
        while attempt < self.settings.callback_max_attempts and not self._stop.is_set():
            attempt += 1
            ok = self._attempt(job_id, status, msg_id, url, body, attempt)
            if ok:
                return
            if attempt < self.settings.callback_max_attempts:
                self._stop.wait(self._backoff(attempt))
        log.warning("callback not delivered", extra={"job_id": job_id, "attempts": attempt})

    def _attempt(self, job_id: str, status: str, msg_id: str, url: str, body: bytes, attempt: int) -> bool:
        rec = CallbackAttempt(job_id=job_id, webhook_id=msg_id, job_status=status, attempt=attempt, url=url)
        start = time.monotonic()
        try:
            check_callback_url(url, self.settings)  # the allow-list may have changed since submission
            ts = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(self.secret, msg_id, ts, body),
            }
            resp = self.client.post(url, content=body, headers=headers)
            rec.http_status = resp.status_code
            rec.delivered = 200 <= resp.status_code < 300
            if not rec.delivered:
                rec.error = f"HTTP {resp.status_code}"
        except Invalid as exc:
            rec.error = exc.detail
        except httpx.HTTPError as exc:
            rec.error = f"{type(exc).__name__}: {exc}"[:1000]
        rec.duration_ms = int((time.monotonic() - start) * 1000)
        with self.sm.begin() as s:
            s.add(rec)
        metrics.CALLBACK_ATTEMPTS.labels(outcome="delivered" if rec.delivered else "failed").inc()
        log.info(
            "callback attempt",
            extra={
                "job_id": job_id,
                "attempt": attempt,
                "http_status": rec.http_status,
                "delivered": rec.delivered,
                "error": rec.error,
            },
        )
        return rec.delivered

    def shutdown(self) -> None:
        self._stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()
