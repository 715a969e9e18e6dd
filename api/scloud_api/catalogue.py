"""The catalogue: which playbooks the API may launch, and the schema of each one's variables.

``playbooks/catalogue.yml`` lists each playbook with a JSON Schema (2020-12) for its
``extra_vars``. Every schema is closed (``additionalProperties: false`` is forced), and any
``ansible_*`` variable from a caller is refused whatever the schema says: connection and
privilege settings belong to the inventory, not to API callers.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from .errors import ApiError, Invalid

SECRET_NAME = re.compile(
    r"(?i)(pass(word|wd|phrase)?|secret|token|api_?key|private_?key|credential|"
    r"auth_?key|keyring|cookie|session_?key)"
)


@dataclass
class PlaybookEntry:
    name: str
    file: Path
    description: str
    schema: dict[str, Any]
    role: str = "operator"
    requires_module: str | None = None
    secret_vars: frozenset[str] = field(default_factory=frozenset)

    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.schema)


def _secret_names(schema: dict[str, Any]) -> frozenset[str]:
    names = set()
    for name, prop in (schema.get("properties") or {}).items():
        if SECRET_NAME.search(name) or (isinstance(prop, dict) and prop.get("writeOnly")):
            names.add(name)
    return frozenset(names)


class Catalogue:
    """Loaded from the catalogue file; reloaded when the file changes."""

    def __init__(self, path: Path, playbook_dir: Path):
        self.path = path
        self.playbook_dir = playbook_dir
        self._mtime: float | None = None
        self._entries: dict[str, PlaybookEntry] = {}
        self._lock = threading.Lock()

    def _load(self) -> None:
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return
        doc = yaml.safe_load(self.path.read_text()) or {}
        entries = {}
        for name, spec in (doc.get("playbooks") or {}).items():
            schema = dict(spec.get("variables") or {"type": "object"})
            schema.setdefault("type", "object")
            schema["additionalProperties"] = False
            schema.setdefault("properties", {})
            Draft202012Validator.check_schema(schema)
            entries[name] = PlaybookEntry(
                name=name,
                file=(self.playbook_dir / spec["file"]).resolve(),
                description=spec.get("description", "").strip(),
                schema=schema,
                role=spec.get("role", "operator"),
                requires_module=spec.get("requires_module"),
                secret_vars=_secret_names(schema),
            )
        self._entries = entries
        self._mtime = mtime

    def entries(self) -> dict[str, PlaybookEntry]:
        with self._lock:
            self._load()
            return dict(self._entries)

    def get(self, name: str) -> PlaybookEntry:
        entry = self.entries().get(name)
        if entry is None:
            raise Invalid(
                f"playbook {name!r} is not in the catalogue",
                errors=[
                    {
                        "loc": ["body", "playbook"],
                        "rule": "catalogue",
                        "msg": f"must be one of: {', '.join(sorted(self.entries()))}",
                    }
                ],
                code="unknown_playbook",
            )
        return entry


def validate_vars(entry: PlaybookEntry, extra_vars: dict[str, Any]) -> None:
    """Raise :class:`Invalid` naming every offending variable and the rule it breaks."""
    errors = []
    for name in extra_vars:
        if name.lower().startswith("ansible_"):
            errors.append(
                {
                    "loc": ["body", "extra_vars", name],
                    "rule": "forbidden",
                    "msg": "ansible_* variables cannot be set by API callers",
                }
            )
    rest = {k: v for k, v in extra_vars.items() if not k.lower().startswith("ansible_")}
    for err in sorted(entry.validator().iter_errors(rest), key=lambda e: [str(p) for p in e.path]):
        loc = ["body", "extra_vars", *[str(p) for p in err.path]]
        if err.validator == "additionalProperties":
            unknown = sorted(set(err.instance) - set(err.schema.get("properties") or {}))
            for name in unknown:
                errors.append(
                    {
                        "loc": [*loc, name],
                        "rule": "unknown_variable",
                        "msg": f"{name} is not a variable of playbook {entry.name}",
                    }
                )
            continue
        errors.append({"loc": loc, "rule": err.validator, "msg": err.message})
    if errors:
        raise Invalid(f"extra_vars do not match the schema of playbook {entry.name}", errors=errors)


_LIMIT_SPLIT = re.compile(r"[,:]")


class Inventory:
    """Host and group names of the job inventory, read once per change with ``ansible-inventory``."""

    def __init__(self, path: Path, env: dict[str, str]):
        self.path = path
        self.env = env
        self._stamp: tuple | None = None
        self.hosts: set[str] = set()
        self.groups: set[str] = set()
        self._lock = threading.Lock()

    def _stamp_now(self) -> tuple:
        if self.path.is_dir():
            files = [p for p in self.path.rglob("*") if p.is_file()]
            return tuple(sorted((str(p), p.stat().st_mtime) for p in files))
        return ((str(self.path), self.path.stat().st_mtime),)

    def refresh(self) -> None:
        with self._lock:
            if not self.path.exists():
                raise ApiError(
                    f"the job inventory {self.path} does not exist",
                    status=422,
                    code="inventory_missing",
                    errors=[
                        {
                            "loc": ["body", "limit"],
                            "rule": "inventory",
                            "msg": "no inventory to match the limit against",
                        }
                    ],
                )
            stamp = self._stamp_now()
            if stamp == self._stamp:
                return
            env = {**os.environ, **self.env}
            out = subprocess.run(
                ["ansible-inventory", "-i", str(self.path), "--list"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if out.returncode != 0:
                raise ApiError(
                    f"cannot read the job inventory: {out.stderr.strip()[-500:]}",
                    status=503,
                    code="inventory_error",
                )
            data = json.loads(out.stdout)
            hosts = set((data.get("_meta") or {}).get("hostvars", {}))
            groups = set()
            for name, group in data.items():
                if name == "_meta":
                    continue
                groups.add(name)
                hosts.update((group or {}).get("hosts", []))
            self.hosts, self.groups, self._stamp = hosts, groups, stamp

    def check_limit(self, limit: str) -> None:
        self.refresh()
        errors = []
        names = self.hosts | self.groups
        for raw in _LIMIT_SPLIT.split(limit):
            part = raw.strip().lstrip("!&")
            if not part:
                errors.append(
                    {"loc": ["body", "limit"], "rule": "syntax", "msg": f"empty pattern in {limit!r}"}
                )
                continue
            if part.startswith("~"):
                try:
                    rx = re.compile(part[1:])
                except re.error as exc:
                    errors.append({"loc": ["body", "limit"], "rule": "syntax", "msg": f"{part}: {exc}"})
                    continue
                ok = any(rx.match(n) for n in names)
            elif any(c in part for c in "*?["):
                ok = any(fnmatch.fnmatchcase(n, part) for n in names)
            else:
                ok = part in names
            if not ok:
                errors.append(
                    {
                        "loc": ["body", "limit"],
                        "rule": "inventory",
                        "msg": f"{part} names no host or group of the inventory",
                    }
                )
        if errors:
            raise Invalid("limit does not match the inventory", errors=errors)
