"""Prometheus metrics of the service (process-wide registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("scloud_api_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "scloud_api_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
JOBS_SUBMITTED = Counter("scloud_api_jobs_submitted_total", "Jobs accepted", ["playbook"])
JOBS_REFUSED = Counter("scloud_api_jobs_refused_total", "Job submissions refused", ["reason"])
JOBS_FINISHED = Counter("scloud_api_jobs_finished_total", "Jobs ended", ["playbook", "status"])
JOB_DURATION = Histogram(
    "scloud_api_job_duration_seconds",
    "Wall time of jobs from start to end",
    ["playbook"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
JOBS_RUNNING = Gauge("scloud_api_jobs_running", "Jobs running in this process")
JOBS_QUEUED = Gauge("scloud_api_jobs_queued", "Jobs waiting for an executor slot in this process")
CALLBACK_ATTEMPTS = Counter("scloud_api_callback_attempts_total", "Callback delivery attempts", ["outcome"])
