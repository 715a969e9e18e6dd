"""Alarm rules made through the API (``PUT /v1/alarm-rules/{name}``): checked by Prometheus' own
``promtool`` before anything is recorded, so a rule the Prometheus servers would refuse never reaches
a job; the job (``playbooks/alarm_rules.yml``) writes the whole set and checks it again on each node.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from pathlib import Path

import yaml

from .errors import ApiError, Invalid

# promtool's error lines: '... "Name": could not parse expression: ...', '... annotation "summary": ...'
_ANNOTATION = re.compile(r'annotation "([A-Za-z0-9_]+)"')
_LABEL = re.compile(r'label "([A-Za-z0-9_]+)"')
CHECK_TIMEOUT = 20


@functools.cache
def shipped_names(rules_file: Path) -> frozenset[str]:
    """The alert names of the rules the monitoring role ships (roles/monitoring/files/alerts.yml)."""
    try:
        doc = yaml.safe_load(rules_file.read_text()) or {}
    except OSError:
        return frozenset()
    return frozenset(
        r["alert"] for g in doc.get("groups") or [] for r in g.get("rules") or [] if "alert" in r
    )


def _loc(line: str) -> list[str]:
    if "could not parse expression" in line:
        return ["body", "expr"]
    if m := _ANNOTATION.search(line):
        return ["body", m.group(1)]
    if m := _LABEL.search(line):
        return ["body", "labels", m.group(1)]
    return ["body"]


def check(rule: dict, promtool: str) -> None:
    """``promtool check rules`` on the one rule; ``422`` naming the field promtool refused."""
    doc = {"groups": [{"name": "check", "rules": [rule]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="scloud-rule-") as f:
        yaml.safe_dump(doc, f)
        f.flush()
        try:
            proc = subprocess.run(  # noqa: S603 - an argv list; the rule is a file's data
                [promtool, "check", "rules", f.name],
                capture_output=True,
                text=True,
                timeout=CHECK_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise ApiError(
                f"cannot check alarm rules: {promtool} is not installed on this API node "
                "(the monitoring role installs prometheus, which has it)",
                status=503,
                code="promtool_unavailable",
            ) from None
        except subprocess.TimeoutExpired:
            raise ApiError(
                f"promtool took more than {CHECK_TIMEOUT} s to check the rule",
                status=503,
                code="promtool_unavailable",
            ) from None
    if proc.returncode == 0:
        return
    out = (proc.stdout + proc.stderr).replace(f.name, "rule")
    lines = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("rule:")] or [out.strip()]
    raise Invalid(
        "promtool refused the rule: " + "; ".join(lines)[:1000],
        errors=[{"loc": _loc(ln), "rule": "promtool", "msg": ln[:500]} for ln in lines],
        code="invalid_alarm_rule",
    )
