"""Recent series of the main indicators, read from Prometheus' query API (httpx).

The API does not store metrics: Prometheus (roles/monitoring, one on every mgmt node) does; the
metrics routes ask the first one that answers (``Settings.prometheus_urls``) for a range query per
indicator. Names in the queries come from the registry (node and VM names match NAME_PATTERN), never
from a caller's free text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .errors import ServiceUnavailable

TIMEOUT = 3.0

NODE_QUERIES = {
    "cpu_used_ratio": '1 - avg(rate(node_cpu_seconds_total{{mode="idle",node="{node}"}}[1m]))',
    "memory_available_ratio": (
        'node_memory_MemAvailable_bytes{{node="{node}"}} / node_memory_MemTotal_bytes{{node="{node}"}}'
    ),
    "load1": 'node_load1{{node="{node}"}}',
    "running_vms": 'count(libvirt_domain_info_virtual_cpus{{node="{node}"}}) or vector(0)',
}
VM_QUERIES = {
    "cpu_used_cores": 'sum(rate(libvirt_domain_info_cpu_time_seconds_total{{domain="{vm}"}}[1m]))',
    "memory_used_bytes": 'sum(libvirt_domain_info_memory_usage_bytes{{domain="{vm}"}})',
    "disk_read_bytes_per_second": (
        'sum(rate(libvirt_domain_block_stats_read_bytes_total{{domain="{vm}"}}[1m]))'
    ),
    "disk_write_bytes_per_second": (
        'sum(rate(libvirt_domain_block_stats_write_bytes_total{{domain="{vm}"}}[1m]))'
    ),
    "network_receive_bytes_per_second": (
        'sum(rate(libvirt_domain_interface_stats_receive_bytes_total{{domain="{vm}"}}[1m]))'
    ),
    "network_transmit_bytes_per_second": (
        'sum(rate(libvirt_domain_interface_stats_transmit_bytes_total{{domain="{vm}"}}[1m]))'
    ),
}


class MetricsUnavailable(ServiceUnavailable):
    code = "metrics_unavailable"


def series(urls: list[str], queries: dict[str, str], minutes: int, step: int, **names: str) -> dict[str, Any]:
    """Each query over the last ``minutes``, one point every ``step`` seconds, from the first
    Prometheus that answers: ``{"start", "end", "step", "source", "series": {name: [[t, v], ...]}}``."""
    if not urls:
        raise MetricsUnavailable("no Prometheus is configured (SCLOUD_API_PROMETHEUS_URLS)")
    end = datetime.now(UTC)
    start = end - timedelta(minutes=minutes)
    errors = []
    with httpx.Client(timeout=TIMEOUT) as client:
        for url in urls:
            try:
                out = {}
                for name, template in queries.items():
                    r = client.get(
                        f"{url.rstrip('/')}/api/v1/query_range",
                        params={
                            "query": template.format(**names),
                            "start": start.timestamp(),
                            "end": end.timestamp(),
                            "step": step,
                        },
                    )
                    r.raise_for_status()
                    result = r.json()["data"]["result"]
                    points = result[0]["values"] if result else []
                    out[name] = [[float(t), float(v)] for t, v in points]
                return {"start": start, "end": end, "step": step, "source": url, "series": out}
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                errors.append(f"{url}: {exc}")
    raise MetricsUnavailable(f"no Prometheus answered ({'; '.join(errors)})")


# The overview: every node and VM at once, one instant query per indicator ----------------------
NODE_OVERVIEW = {
    "up": 'max by (node) (up{job="node"})',
    "cpu_used_ratio": '1 - avg by (node) (rate(node_cpu_seconds_total{mode="idle"}[1m]))',
    "memory_available_ratio": "max by (node) (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
    "load1": "max by (node) (node_load1)",
    "running_vms": "count by (node) (libvirt_domain_info_virtual_cpus)",
}
VM_OVERVIEW = {
    "cpu_used_cores": "sum by (domain, node) (rate(libvirt_domain_info_cpu_time_seconds_total[1m]))",
    "memory_used_bytes": "sum by (domain, node) (libvirt_domain_info_memory_usage_bytes)",
}


def overview(urls: list[str]) -> dict[str, Any]:
    """The latest value of each indicator for every node and VM, from the first Prometheus that
    answers: ``{"at", "source", "nodes": {node: {indicator: value}}, "vms": {vm: {...}}}``."""
    if not urls:
        raise MetricsUnavailable("no Prometheus is configured (SCLOUD_API_PROMETHEUS_URLS)")
    errors = []
    with httpx.Client(timeout=TIMEOUT) as client:
        for url in urls:
            try:
                at = datetime.now(UTC)
                nodes: dict[str, dict[str, float]] = {}
                vms: dict[str, dict[str, Any]] = {}
                for table, queries, key in ((nodes, NODE_OVERVIEW, "node"), (vms, VM_OVERVIEW, "domain")):
                    for name, query in queries.items():
                        r = client.get(f"{url.rstrip('/')}/api/v1/query", params={"query": query})
                        r.raise_for_status()
                        for item in r.json()["data"]["result"]:
                            who = item["metric"].get(key)
                            if not who:
                                continue
                            row = table.setdefault(who, {})
                            row[name] = float(item["value"][1])
                            if key == "domain" and item["metric"].get("node"):
                                row["node"] = item["metric"]["node"]
                return {"at": at, "source": url, "nodes": nodes, "vms": vms}
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                errors.append(f"{url}: {exc}")
    raise MetricsUnavailable(f"no Prometheus answered ({'; '.join(errors)})")
