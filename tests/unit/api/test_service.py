"""scloud_api.service: per-host statistics and request fingerprints."""

from __future__ import annotations

from scloud_api.schemas import host_stats
from scloud_api.service import fingerprint


def test_host_stats_and_fingerprint():
    stats = {"ok": {"a": 2}, "changed": {"a": 1}, "dark": {"b": 1}, "processed": {"a": 1, "b": 1, "c": 1}}
    hosts = host_stats(stats)
    assert (
        hosts["a"].ok == 2 and hosts["a"].changed == 1 and hosts["b"].unreachable == 1 and hosts["c"].ok == 0
    )
    assert fingerprint("POST", "/v1/jobs", {"a": 1, "b": 2}) == fingerprint(
        "POST", "/v1/jobs", {"b": 2, "a": 1}
    )
    assert fingerprint("POST", "/v1/jobs", {"a": 1}) != fingerprint("PUT", "/v1/jobs", {"a": 1})
