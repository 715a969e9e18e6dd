"""Caller data is data: no string a caller sends is ever templated by Ansible.

The cases are generated from the catalogue itself: every place of every entry's variable schema
where a caller can put a string (a property, an array item, an ``anyOf`` branch, a key or a value of
a free-form object, at any depth) receives Jinja payloads. Either the schema refuses the value
(422 naming it, no job) or the job runs, and then: the ``lookup('pipe', ...)`` made no file, the
``lookup('env', ...)`` read nothing, and the job's events show the payload as literal text. A new
catalogue entry is covered without a new test.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from scloud_api.catalogue import SECRET_NAME
from scloud_api.models import Node

from .conftest import REPO

CATALOGUE = yaml.safe_load((REPO / "playbooks/catalogue.yml").read_text())["playbooks"]
# Key of a free-form object: the payload goes in the key and in the value.
KEY = object()
# Candidates for a required string with a pattern (the schema keeps what it accepts).
_CANDIDATES = ("vm1", "rbd", "1G", "1", "a", "present")


def example(schema: dict[str, Any], where: str) -> Any:
    """A small valid value of ``schema`` (required properties only)."""
    if "examples" in schema:
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    for branch in schema.get("anyOf") or schema.get("oneOf") or ():
        return example(branch, where)
    kind = schema.get("type")
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return [example(schema.get("items") or {"type": "string"}, where)] * schema.get("minItems", 0)
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: example(props.get(name, {}), f"{where}.{name}") for name in schema.get("required", [])}
    if kind == "string":
        pattern = schema.get("pattern")
        for candidate in _CANDIDATES:
            if pattern is None or re.search(pattern, candidate):
                return candidate
    raise AssertionError(f"no example for {where}: give its schema an `examples` list")


def string_places(schema: dict[str, Any], path: tuple = ()) -> list[tuple]:
    """Every path where a caller can put a string, at any depth."""
    places: list[tuple] = []
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        for branch in branches:
            places += [p for p in string_places(branch, path) if p not in places]
        return places
    kind = schema.get("type")
    if kind == "string" or "enum" in schema or "pattern" in schema:
        return [path]
    if kind == "array":
        return string_places(schema.get("items") or {"type": "string"}, (*path, 0))
    if kind == "object":
        for name, prop in (schema.get("properties") or {}).items():
            places += string_places(prop, (*path, name))
        if path and schema.get("additionalProperties", True) is not False:
            places += [(*path, KEY)]
    return places


def put(doc: dict[str, Any], path: tuple, payload: str) -> dict[str, Any]:
    """``doc`` with ``payload`` at ``path``, creating the objects and lists on the way."""
    node: Any = doc
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if step is KEY:
            node[payload] = payload
            return doc
        nxt = path[i + 1] if not last else None
        empty = [] if nxt == 0 else {}
        if isinstance(node, list):
            if not node:
                node.append(payload if last else empty)
            elif last:
                node[0] = payload
            node = node[0]
        else:
            if last:
                node[step] = payload
            else:
                node = node.setdefault(step, empty)
    return doc


def cases() -> list:
    """Every string place of every entry POST /v1/jobs runs (a resource's entry has its route)."""
    out = []
    for name, entry in sorted(CATALOGUE.items()):
        if entry.get("resource"):
            continue
        schema = entry.get("variables") or {"type": "object"}
        for path in string_places(schema):
            label = ".".join("<key>" if p is KEY else str(p) for p in path)
            out.append(pytest.param(name, schema, path, id=f"{name}:{label}"))
    return out


def inline(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$ref``s replaced by their definitions."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        return inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$defs":
            continue
        if key == "properties":
            value = {name: inline(prop, defs) for name, prop in value.items()}
        elif isinstance(value, dict):
            value = inline(value, defs)
        elif isinstance(value, list):
            value = [inline(v, defs) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


# A valid body of each resource kind, whose references exist in the test (none: the VM has no NIC
# and no disk; its boot block names a kernel so that its cmdline is reachable).
RESOURCE_BASES = {
    "vm": {"state": "shutoff", "boot": {"kernel": "/var/lib/libvirt/images/scloud-test-kernel"}},
    "volume": {"size": "1G"},
    "vpc": {},
    "subnet": {"vpc": "v1", "cidr": "10.0.0.0/24"},
    "security_group": {},
    "public_ip": {"address": "192.0.2.10"},
    "load_balancer": {"subnet": "s1", "port": 80},
    "alarm_rule": {"expr": "vector(1)", "summary": "s", "runbook": "r"},
    "snapshot": {},
    "backup": {"volume": "rbd/v1", "backup_pool": "backups"},
}
RESOURCE_NAMES = {"volume": "rbd/inj1", "snapshot": "rbd/v1@inj1"}


def resource_cases() -> list:
    """Every string place of every resource kind's spec (the pydantic models the routes validate)."""
    from scloud_api.registry import SPECS

    out = []
    for kind, model in sorted(SPECS.items()):
        schema = inline(model.model_json_schema())
        for path in string_places(schema):
            label = ".".join("<key>" if p is KEY else str(p) for p in path)
            out.append(pytest.param(str(kind), path, id=f"{kind}:{label}"))
    return out


def payload(marker: Path) -> str:
    # Short enough for every free-text field (81 characters; the shortest maxLength is 100): a
    # command, an environment read and a statement block, each of which shows when it is templated.
    return f"{{{{lookup('pipe','touch {marker}')}}}}{{%if 1%}}{{{{lookup('env','HOME')}}}}{{%endif%}}"


def new_marker() -> Path:
    return Path("/tmp") / f"si{uuid.uuid4().hex[:6]}"


@pytest.mark.slow
@pytest.mark.parametrize(("playbook", "schema", "path"), cases())
def test_jinja_in_every_string_is_literal(api, tmp_path, playbook, schema, path):
    marker = new_marker()
    text = payload(marker)
    extra = put(example(schema, playbook), path, text)
    with api.client("admin") as c:
        before = c.get("/v1/jobs").json()["total"]
        r = c.post("/v1/jobs", json={"playbook": playbook, "extra_vars": extra, "check": True})
        if r.status_code == 422:
            # The schema refuses the value: named, and nothing reaches Ansible.
            top = next(p for p in path if p is not KEY)
            errors = r.json()["errors"]
            assert any(str(top) in map(str, e["loc"]) for e in errors), r.text
            # Refused for what the value is (pattern, enum), not because the payload is too long:
            # a free-text field must receive the whole payload.
            assert not {e["rule"] for e in errors} & {"maxLength", "minLength"}, r.text
            assert c.get("/v1/jobs").json()["total"] == before
            return
        assert r.status_code == 202, r.text
        job = api.wait(r.json()["id"], timeout=300)
        events = c.get(f"/v1/jobs/{job['id']}/events", params={"limit": 1000}).json()["items"]
    dumped = json.dumps(events)
    assert not marker.exists(), f"{marker} was made: the payload ran"
    secret = path and isinstance(path[0], str) and SECRET_NAME.search(path[0])
    writeonly = (schema.get("properties") or {}).get(path[0], {}).get("writeOnly")
    if secret or writeonly:
        assert text not in dumped  # masked, and never evaluated either (no marker)
    else:
        # The text reached the play (module arguments or a message) exactly as sent.
        assert json.dumps(text)[1:-1] in dumped, (job["status"], dumped[-3000:])


def test_every_entry_reaches_a_job_with_free_text():
    """The generators are not vacuous: free text of diagnostics and of a VM's boot reaches a playbook."""
    ids = {c.id for c in cases()}
    assert {"diagnostics:diagnostics_message", "diagnostics:diagnostics_token"} <= ids
    rids = {c.id for c in resource_cases()}
    assert {"vm:boot.cmdline", "vm:nics.0.subnet", "vpc:description", "load_balancer:members.0.vm"} <= rids


def test_resource_playbooks_are_refused_on_the_jobs_route(api):
    """A resource's playbook runs only through its route (which records and places it)."""
    resources = sorted(name for name, entry in CATALOGUE.items() if entry.get("resource"))
    assert {"vm", "volume", "vpc", "subnet", "security_group", "public_ip", "load_balancer"} <= set(resources)
    with api.client("admin") as c:
        for name in resources:
            r = c.post("/v1/jobs", json={"playbook": name, "extra_vars": {}, "check": True})
            assert r.status_code == 422 and r.json()["code"] == "resource_playbook", r.text


@pytest.fixture
def resource_api(api_factory, tmp_path):
    """The API with one node, this machine, whose libvirt URI leads nowhere: a VM's job reaches its
    libvirt_domain task (whose arguments the events show) and fails there, touching nothing."""
    inventory = tmp_path / "cloud.json"
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/usr/bin/python3",
        "scloud_libvirt_uri": "qemu+unix:///system?socket=/nonexistent/libvirt-sock",
        # An alarm rule's job writes here, and reloads no Prometheus of this machine.
        "monitoring_rules_dir": str(tmp_path),
        "monitoring_prometheus_reload": False,
    }
    inventory.write_text(
        json.dumps({"compute": {"hosts": {"here": host}}, "mgmt": {"hosts": {"here": None}}})
    )
    api = api_factory(
        inventory=str(inventory),
        volume_pools=["rbd"],
        public_network={"name": "public", "cidr": "192.0.2.0/24", "gateway": "192.0.2.1"},
    )
    with api.services.sm.begin() as s:
        s.merge(
            Node(name="here", roles=["compute", "mgmt"], vcpus=8, memory_mb=65536, up=True, draining=False)
        )
    return api


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "path"), resource_cases())
def test_jinja_in_every_resource_string_is_literal(resource_api, kind, path):
    """Each string of a resource's spec gets the payload: refused naming that very field (422, no
    job), or taken, and then never evaluated: no marker, and wherever the text reached the job's
    variables the play shows it exactly as sent."""
    api = resource_api
    from scloud_api.registry import resource_path

    marker = new_marker()
    text = payload(marker)
    body = put(json.loads(json.dumps(RESOURCE_BASES[kind])), path, text)
    url = resource_path(kind, RESOURCE_NAMES.get(kind, "inj1"))
    field = [p for p in path if p is not KEY and not isinstance(p, int)][-1]
    with api.client("admin") as c:
        before = c.get("/v1/jobs").json()["total"]
        r = c.put(url, json=body)
        if r.status_code == 422:
            errors = r.json()["errors"]
            assert any(field in map(str, e["loc"]) for e in errors), r.text
            assert c.get("/v1/jobs").json()["total"] == before
            return
        assert r.status_code == 202, r.text
        job = api.wait(r.json()["id"], timeout=300)
        events = c.get(f"/v1/jobs/{job['id']}/events", params={"limit": 1000}).json()["items"]
        record = c.get(url).json()
    assert not marker.exists(), f"{marker} was made: the payload ran"
    assert text in json.dumps(record["spec"]), record["spec"]
    if text in json.dumps(job["extra_vars"]):
        # The text reached the play (the module's arguments) exactly as sent.
        assert json.dumps(text)[1:-1] in json.dumps(events), (job["status"], json.dumps(events)[-3000:])


def test_check_mode_runs_no_command(api):
    """diagnostics in check mode: the allowed commands are reported, none is run."""
    with api.client() as c:
        r = c.post(
            "/v1/jobs",
            json={
                "playbook": "diagnostics",
                "check": True,
                "extra_vars": {"diagnostics_command": ["hostname"]},
            },
        )
        job = api.wait(r.json()["id"])
        events = c.get(f"/v1/jobs/{job['id']}/events", params={"limit": 1000}).json()["items"]
    assert job["status"] == "successful", job
    ran = [e for e in events if e["task"] == "Run the diagnostics" and e["event"] == "runner_item_on_ok"]
    skipped = [
        e for e in events if e["task"] == "Run the diagnostics" and e["event"] == "runner_item_on_skipped"
    ]
    assert not ran and len(skipped) == 1, [e["event"] for e in events if e["task"] == "Run the diagnostics"]


@pytest.mark.parametrize(
    "command",
    [["sh", "-c", "id"], ["hostname", "evil"], ["cat"], ["kernel", "kernel"], "hostname"],
)
def test_diagnostics_refuses_other_commands(api, command):
    with api.client() as c:
        r = c.post(
            "/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_command": command}}
        )
    assert r.status_code == 422, r.text
    assert all(e["loc"][:3] == ["body", "extra_vars", "diagnostics_command"] for e in r.json()["errors"])
