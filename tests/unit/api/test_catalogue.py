"""The limit parser of scloud_api.catalogue: Ansible's pattern syntax without backtracking regexes."""

from __future__ import annotations

import fnmatch
import time
from pathlib import Path

import pytest
from ansible.inventory.manager import split_host_pattern
from hypothesis import given, settings
from hypothesis import strategies as st
from scloud_api.catalogue import (
    MAX_LIMIT_CHARS,
    Catalogue,
    Glob,
    Inventory,
    LimitPattern,
    glob_match,
    parse_limit,
    validate_vars,
)
from scloud_api.errors import Invalid

REPO = Path(__file__).resolve().parents[3]

PATHOLOGICAL = ["~((.?){6}){6}!", "~(a+)+$", "~(a|aa)*b", "~" + "(.*)" * 200, "!~((.?){6}){6}!"]


def rules(limit: str) -> set[str]:
    with pytest.raises(Invalid) as exc:
        parse_limit(limit)
    assert all(e["loc"] == ["body", "limit"] and e["msg"] for e in exc.value.errors)
    return {e["rule"] for e in exc.value.errors}


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("node1", [("", "node1")]),
        ("node*", [("", "node*")]),
        ("compute:!node2", [("", "compute"), ("!", "node2")]),
        ("all,&compute", [("", "all"), ("&", "compute")]),
        (" node1 , node2 ", [("", "node1"), ("", "node2")]),
        ("a:b:c", [("", "a"), ("", "b"), ("", "c")]),
        # With a comma Ansible splits on commas only: an IPv6 host name keeps its colons.
        ("fe80::1,node1", [("", "fe80::1"), ("", "node1")]),
        ("n?de.example.com", [("", "n?de.example.com")]),
    ],
)
def test_parse_accepts(limit, expected):
    assert parse_limit(limit) == [LimitPattern(op, body) for op, body in expected]


@pytest.mark.parametrize(
    ("limit", "rule"),
    [
        ("~node[12]", "syntax"),  # brackets are refused before the ~ is looked at
        ("~node.*", "no_regex"),
        ("!~node", "no_regex"),  # Ansible runs the regex of an excluded pattern too
        ("&~node", "no_regex"),
        ("@/etc/passwd", "no_file"),
        ("node1,@/etc/passwd", "no_file"),
        ("node[0]", "syntax"),
        ("node[1:3]", "syntax"),
        ("node1,,node2", "syntax"),
        ("node1,", "syntax"),
        ("!", "syntax"),
        ("!!node1", "syntax"),
        ("-node1", "syntax"),
        ("node 1", "syntax"),
        ("node1\tnode2", "syntax"),
        ("node\x00", "syntax"),
        ("node\ud800", "syntax"),
        ("node1:22", "syntax"),  # Ansible reads host:port as one pattern
        ("fe80::1", "syntax"),  # ... and an IPv6 address
        ("1:2:3:4:5:6:7:8", "syntax"),
        ("0:0:0:0:0:0:1.2.3.4", "syntax"),
    ],
)
def test_parse_refuses(limit, rule):
    assert rule in rules(limit)


def test_length_bound_is_named():
    parse_limit(",".join(["n"] * (MAX_LIMIT_CHARS // 2)))  # 999 characters
    with pytest.raises(Invalid) as exc:
        parse_limit("n" * (MAX_LIMIT_CHARS + 1))
    assert exc.value.errors[0]["rule"] == "max_length"
    assert str(MAX_LIMIT_CHARS) in exc.value.errors[0]["msg"]


def test_errors_are_bounded():
    with pytest.raises(Invalid) as exc:
        parse_limit(",".join(["~x"] * 300))
    assert len(exc.value.errors) == 21 and exc.value.errors[-1]["rule"] == "more"


@pytest.mark.parametrize("limit", PATHOLOGICAL)
def test_pathological_patterns_refused_fast(limit):
    # The bound is 10 ms for the refusal; the parser takes microseconds. CPU time, not wall
    # time: on a loaded 2-core machine a preemption alone can last 10 ms.
    start = time.thread_time()
    assert "no_regex" in rules(limit)
    assert time.thread_time() - start < 0.010


def test_wildcards_cannot_blow_up():
    # Patterns that make a backtracking matcher explode; here each costs at most
    # len(pattern) * len(name) steps (the same 10 ms CPU bound, for 64 names of 62 characters).
    names = {"a" * 60 + str(i) for i in range(64)}
    for pattern in ("*a" * 30 + "b", "?*" * 60 + "b", "*" * 900 + "b", "*a?" * 20 + "c"):
        start = time.thread_time()
        glob = Glob(pattern)
        assert not any(map(glob.match, names))
        assert time.thread_time() - start < 0.010, pattern


@pytest.mark.parametrize(
    ("pattern", "name", "match"),
    [
        ("*", "", True),
        ("*", "node1", True),
        ("node?", "node1", True),
        ("node?", "node12", False),
        ("*1", "node1", True),
        ("n*e*1", "node1", True),
        ("n*e*2", "node1", False),
        ("N*", "node1", False),  # case-sensitive, like Ansible (fnmatch.translate + re.match)
        ("a*b*a", "aba", True),
        ("a*a", "a", False),
        ("*.example.com", "x.example.com", True),
        ("?", "\U0001f600", True),
    ],
)
def test_glob_match(pattern, name, match):
    assert glob_match(pattern, name) is match


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab*?.", max_size=8), st.text(alphabet="ab.", max_size=8))
def test_glob_match_is_fnmatchcase(pattern, name):
    assert glob_match(pattern, name) is fnmatch.fnmatchcase(name, pattern)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="ab1f:,!&*? .-~@", max_size=14))
def test_accepted_limits_split_as_ansible_splits_them(limit):
    """Whatever parse_limit accepts, ansible-core reads as the same patterns: what is validated runs."""
    try:
        patterns = parse_limit(limit)
    except Invalid:
        return
    assert [p.op + p.body for p in patterns] == split_host_pattern(limit)


def test_inventory_check_limit(tmp_path):
    inv = Inventory(tmp_path / "hosts", {})
    inv.hosts, inv.groups = {"node1", "node2"}, {"all", "compute"}
    inv.refresh = lambda: None  # pure logic: the inventory is given, not read by ansible-inventory
    for ok in ("node1", "compute", "node*", "compute:!node2", "all,&compute", "?ode1"):
        inv.check_limit(ok)
    with pytest.raises(Invalid) as exc:
        inv.check_limit("node1,node3,x*,node3")
    assert [e["msg"] for e in exc.value.errors] == [
        "node3 names no host or group of the inventory",
        "x* names no host or group of the inventory",
    ]


def test_syntax_is_checked_before_the_inventory_is_read(tmp_path):
    inv = Inventory(tmp_path / "missing", {})  # refresh() would answer inventory_missing

    with pytest.raises(Invalid) as exc:
        inv.check_limit("~((.?){6}){6}!")
    assert exc.value.errors[0]["rule"] == "no_regex"


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue(REPO / "playbooks/catalogue.yml", REPO / "playbooks")


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ({"ansible_user": "root"}, "forbidden"),
        ({"ANSIBLE_become": True}, "forbidden"),
        ({"nope": 1}, "unknown_variable"),
        ({"diagnostics_sleep": "1"}, "type"),
        ({"diagnostics_sleep": 3601}, "maximum"),
        ({"diagnostics_command": []}, "minItems"),
        ({"diagnostics_command": "uname -r"}, "type"),
        ({"diagnostics_command": ["uname", "-r"]}, "enum"),
        ({"diagnostics_command": ["sh"]}, "enum"),
        ({"diagnostics_command": ["hostname", "hostname"]}, "uniqueItems"),
        ({"diagnostics_fail": "yes"}, "type"),
    ],
)
def test_validate_vars_refuses(catalogue, extra, rule):
    with pytest.raises(Invalid) as exc:
        validate_vars(catalogue.get("diagnostics"), extra)
    assert rule in {e["rule"] for e in exc.value.errors}


def test_validate_vars_accepts(catalogue):
    validate_vars(
        catalogue.get("diagnostics"), {"diagnostics_command": ["kernel", "disk"], "diagnostics_sleep": 0}
    )
    volume = {"volume_pool": "rbd", "volume_name": "v", "volume_state": "present"}
    validate_vars(catalogue.get("volume"), {**volume, "volume_size": "10G"})
    with pytest.raises(Invalid):
        validate_vars(catalogue.get("volume"), {**volume, "volume_size": "10 X"})
    with pytest.raises(Invalid) as exc:
        catalogue.get("site")
    assert exc.value.code == "unknown_playbook"


def test_secret_variables_are_known(catalogue):
    assert catalogue.get("diagnostics").secret_vars == frozenset({"diagnostics_token"})


def test_limit_patterns(tmp_path):
    inv = Inventory(tmp_path / "hosts", {})
    inv.hosts, inv.groups = {"node1", "node2"}, {"all", "compute"}
    inv.refresh = lambda: None
    for ok in ("node1", "compute", "node*", "compute:!node2", "all,&compute"):
        inv.check_limit(ok)
    for bad in ("node3", "storage", "x*", "node1,,node2", "~(", "~node[12]"):
        with pytest.raises(Invalid):
            inv.check_limit(bad)


VM_VARS = {
    "vm_name": "a",
    "vm_state": "running",
    "vm_ports": [],
    "vm_domain_nics": [],
    "vm_disks": [],
    "vm_detach_ports": [],
    "vm_floating_release": [],
}


def test_nested_unknown_option_is_named(catalogue):
    with pytest.raises(Invalid) as exc:
        validate_vars(catalogue.get("vm"), {**VM_VARS, "vm_floating": {"router": "r", "bogus": 2}})
    assert exc.value.errors == [
        {
            "loc": ["body", "extra_vars", "vm_floating", "bogus"],
            "rule": "unknown_variable",
            "msg": "bogus is not a variable of playbook vm",
        }
    ]
