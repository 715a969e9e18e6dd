"""The catalogue: which playbooks the API may launch, and the schema of each one's variables.

``playbooks/catalogue.yml`` lists each playbook with a JSON Schema (2020-12) for its
``extra_vars``. Every schema is closed (``additionalProperties: false`` is forced), and any
``ansible_*`` variable from a caller is refused whatever the schema says: connection and
privilege settings belong to the inventory, not to API callers.
"""

from __future__ import annotations

import json
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
    secret_vars: frozenset[str] = field(default_factory=frozenset)
    # A registry resource's playbook: launched only by its route (named here), never by POST /v1/jobs.
    resource: str | None = None

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
                secret_vars=_secret_names(schema),
                resource=spec.get("resource"),
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


# The longest `limit` accepted (also the schema's maxLength and the width of the jobs.limit column).
MAX_LIMIT_CHARS = 1000
# A refused limit reports at most this many errors: a 1,000-character limit can hold 500 patterns.
_MAX_LIMIT_ERRORS = 20
_HEX_ADDRESS = frozenset("0123456789abcdefABCDEF:.")


@dataclass(frozen=True)
class LimitPattern:
    """One pattern of a limit: ``op`` is ``""`` (add), ``"&"`` (intersect) or ``"!"`` (exclude)."""

    op: str
    body: str

    @property
    def wildcard(self) -> bool:
        return "*" in self.body or "?" in self.body


def _limit_error(rule: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", "limit"], "rule": rule, "msg": msg}


def _raise_limit(errors: list[dict[str, Any]], detail: str) -> None:
    if len(errors) > _MAX_LIMIT_ERRORS:
        more = len(errors) - _MAX_LIMIT_ERRORS
        errors = [*errors[:_MAX_LIMIT_ERRORS], _limit_error("more", f"and {more} more errors")]
    raise Invalid(detail, errors=errors)


def _split_limit(limit: str) -> list[str] | None:
    """The patterns of ``limit`` as ansible-core's ``split_host_pattern`` cuts them (brackets refused).

    With a comma anywhere Ansible splits on commas only; without one it first tries the whole
    string as an address (``host:22``, an IPv6 address) and else splits on colons. ``None`` when
    the string could be such an address: the caller must use commas then.
    """
    if "," in limit:
        return limit.split(",")
    if ":" in limit:
        whole = limit.strip()
        head, _, tail = whole.rpartition(":")
        host_port = tail.isdigit() and tail.isascii() and ":" not in head
        # Ansible's IPv6 forms: eight groups (seven colons), "::", or six groups before an IPv4 tail.
        ipv6 = set(whole) <= _HEX_ADDRESS and ("::" in whole or whole.count(":") >= 6)
        if host_port or ipv6:
            return None
        return limit.split(":")
    return [limit]


def parse_limit(limit: str) -> list[LimitPattern]:
    """Parse an Ansible ``--limit`` without regular expressions; raise :class:`Invalid` naming the rule.

    Accepted: host and group names, ``*`` and ``?`` wildcards, one ``!`` (exclude) or ``&``
    (intersect) prefix per pattern, ``,`` or ``:`` between patterns, spaces around them. Refused:
    ``~regex`` patterns (Ansible would run the caller's regular expression, with Python's
    backtracking engine, on the API host), ``@file`` patterns (Ansible would read that file on the
    API host), ``[...]`` subscripts and character classes, control characters.
    """
    if len(limit) > MAX_LIMIT_CHARS:
        _raise_limit(
            [
                _limit_error(
                    "max_length",
                    f"the limit has {len(limit)} characters; at most {MAX_LIMIT_CHARS} (MAX_LIMIT_CHARS)",
                )
            ],
            "limit is too long",
        )
    errors: list[dict[str, Any]] = []
    bad = next((i for i, c in enumerate(limit) if not c.isprintable() or c in "[]"), None)
    if bad is not None:
        shown = limit[bad].encode("unicode_escape", "backslashreplace").decode("ascii")
        errors.append(
            _limit_error(
                "syntax",
                f"character {shown!r} at position {bad} is not allowed: no control characters, "
                "no [...] subscripts or character classes (name the hosts or use * and ?)",
            )
        )
        _raise_limit(errors, "limit is not a valid host pattern")
    parts = _split_limit(limit)
    if parts is None:
        _raise_limit(
            [
                _limit_error(
                    "syntax",
                    f"{limit.strip()!r} reads as an address (host:port or IPv6) to Ansible; "
                    "separate patterns with ',' instead of ':'",
                )
            ],
            "limit is not a valid host pattern",
        )
    patterns: list[LimitPattern] = []
    for raw in parts or ():
        part = raw.strip(" ")
        op = part[:1] if part[:1] in ("!", "&") else ""
        body = part[len(op) :]
        if not body:
            errors.append(_limit_error("syntax", f"empty pattern in {limit!r}"))
        elif " " in body:
            errors.append(_limit_error("syntax", f"{body!r}: no spaces inside a pattern"))
        elif body[0] == "~":
            errors.append(
                _limit_error(
                    "no_regex",
                    f"{part}: ~regex patterns are refused (Ansible would run the caller's regular "
                    "expression on the API host); name hosts and groups or use * and ? wildcards",
                )
            )
        elif body[0] == "@":
            errors.append(
                _limit_error(
                    "no_file",
                    f"{part}: @file patterns are refused (Ansible would read that file on the API host); "
                    "list the hosts in the limit",
                )
            )
        elif body[0] in "!&":
            errors.append(_limit_error("syntax", f"{part}: one ! or & prefix per pattern"))
        elif body[0] == "-":
            errors.append(_limit_error("syntax", f"{part}: a pattern cannot start with '-'"))
        else:
            patterns.append(LimitPattern(op, body))
    if errors:
        _raise_limit(errors, "limit is not a valid host pattern")
    return patterns


class _Piece:
    """A star-free piece of a glob; ``?`` is any one character."""

    __slots__ = ("text", "fixed")

    def __init__(self, text: str):
        self.text = text
        # None: no "?", so str.startswith/str.find do the work in C.
        self.fixed = None if "?" not in text else tuple((i, c) for i, c in enumerate(text) if c != "?")

    def at(self, name: str, pos: int) -> bool:
        if pos + len(self.text) > len(name):
            return False
        if self.fixed is None:
            return name.startswith(self.text, pos)
        return all(name[pos + i] == c for i, c in self.fixed)

    def find(self, name: str, start: int, end: int) -> int:
        """The first index >= ``start`` where the piece matches and ends by ``end``, else -1."""
        if self.fixed is None:
            return name.find(self.text, start, end)
        size = len(self.text)
        if not self.fixed:
            return start if start + size <= end else -1
        i0, c0 = self.fixed[0]
        pos = start
        while pos + size <= end:
            hit = name.find(c0, pos + i0, end - size + i0 + 1)
            if hit < 0:
                return -1
            pos = hit - i0
            if self.at(name, pos):
                return pos
            pos += 1
        return -1


class Glob:
    """``fnmatch.fnmatchcase`` for ``*`` and ``?`` only, compiled once, without a regular expression.

    The pattern is cut at its stars; each piece is found at its earliest place after the previous
    one (the earliest is always right for ``*``), so the work is at most
    ``len(pattern) * len(name)`` per name and never grows exponentially, whatever the pattern.
    """

    def __init__(self, pattern: str):
        pieces = pattern.split("*")
        self.exact = len(pieces) == 1
        self.first, self.last = _Piece(pieces[0]), _Piece(pieces[-1])
        self.middle = tuple(_Piece(p) for p in pieces[1:-1] if p)  # "**" is "*"
        self.size = sum(len(p) for p in pieces)

    def match(self, name: str) -> bool:
        if self.size > len(name):
            return False
        if self.exact:
            return len(self.first.text) == len(name) and self.first.at(name, 0)
        if not self.first.at(name, 0):
            return False
        pos, end = len(self.first.text), len(name) - len(self.last.text)
        for piece in self.middle:
            found = piece.find(name, pos, end)
            if found < 0:
                return False
            pos = found + len(piece.text)
        return pos <= end and self.last.at(name, end)


def glob_match(pattern: str, name: str) -> bool:
    return Glob(pattern).match(name)


def _members(data: dict[str, Any]) -> dict[str, set[str]]:
    """Each group's hosts, with those of its child groups (``ansible-inventory --list`` gives them apart)."""
    out: dict[str, set[str]] = {}

    def walk(name: str, seen: frozenset[str]) -> set[str]:
        if name in out:
            return out[name]
        group = data.get(name) or {}
        hosts = set(group.get("hosts") or [])
        for child in group.get("children") or []:
            if child not in seen:
                hosts |= walk(child, seen | {child})
        out[name] = hosts
        return hosts

    for name in data:
        if name != "_meta":
            walk(name, frozenset({name}))
    return out


class Inventory:
    """Host and group names of the job inventory, read once per change with ``ansible-inventory``."""

    def __init__(self, path: Path, env: dict[str, str]):
        self.path = path
        self.env = env
        self._stamp: tuple | None = None
        self.hosts: set[str] = set()
        self.groups: set[str] = set()
        self.members: dict[str, set[str]] = {}  # group -> its hosts, children's included
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
            env = dict(self.env)  # the allow-listed environment, never the API's secrets
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
            self.members = _members(data)

    def check_limit(self, limit: str) -> None:
        """Refuse a limit that is not plain names and wildcards, or that names nothing of the inventory.

        The syntax is checked before the inventory is read, so a refused pattern costs no
        ``ansible-inventory`` run.
        """
        patterns = parse_limit(limit)
        self.refresh()
        names = self.hosts | self.groups
        errors = []
        for pat in dict.fromkeys(patterns):
            if pat.wildcard:
                ok = any(map(Glob(pat.body).match, names))
            else:
                ok = pat.body in names
            if not ok:
                errors.append(
                    _limit_error("inventory", f"{pat.body} names no host or group of the inventory")
                )
        if errors:
            _raise_limit(errors, "limit does not match the inventory")
