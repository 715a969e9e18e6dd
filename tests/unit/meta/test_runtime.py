"""meta/runtime.yml: every module is in the action group of its engine, and its docs say so."""

import ast
import importlib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
RUNTIME = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
MODULES = sorted(p for p in (REPO / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))
# The engine a module's main() runs on -> its action group.
ENGINE_GROUPS = {
    "CEPH": {"ceph"},
    "LIBVIRT": {"libvirt"},
    "OVSDB": {"ovs", "ovn", "ovn_sb"},
    "OVSDB_CTL": {"ovn_raft"},
    "RABBITMQ": {"rabbitmq"},
}


def _documentation(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "DOCUMENTATION":
            return yaml.safe_load(node.value.value)
    raise AssertionError(f"{path} has no DOCUMENTATION")


def _membership(doc):
    """action_group membership documented by the module and its doc fragments."""
    groups = set(((doc.get("attributes") or {}).get("action_group") or {}).get("membership", []))
    for fragment in doc.get("extends_documentation_fragment", []):
        parts = fragment.split(".")  # scloud.stack.<fragment>[.<VAR>]
        cls = importlib.import_module(
            f"ansible_collections.scloud.stack.plugins.doc_fragments.{parts[2]}"
        ).ModuleDocFragment
        text = getattr(cls, parts[3].upper() if len(parts) > 3 else "DOCUMENTATION")
        attrs = yaml.safe_load(text).get("attributes") or {}
        groups |= set((attrs.get("action_group") or {}).get("membership", []))
    return groups


def _resource_database(path):
    """The OVSDB database of the Resource class(es) a module hands to ResourceOperation."""
    tree = ast.parse(path.read_text())
    names = {n.func.id: n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    call = names.get("ResourceOperation")
    assert call is not None, path.stem
    cls_name = call.args[0].id
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == cls_name for a in node.names):
            return getattr(importlib.import_module(node.module), cls_name).database
    raise AssertionError(f"{path.stem}: {cls_name} not imported")


def test_every_module_in_exactly_one_group_of_its_engine():
    groups = {
        m: [g for g, members in RUNTIME["action_groups"].items() if m in members]
        for m in (p.stem for p in MODULES)
    }
    assert all(len(g) == 1 for g in groups.values()), groups
    for path in MODULES:
        (group,) = groups[path.stem]
        engines = [e for e in ENGINE_GROUPS if f"run_module(module, {e}," in path.read_text()]
        assert len(engines) == 1 and group in ENGINE_GROUPS[engines[0]], (path.stem, engines, group)
        if engines == ["OVSDB"]:
            # The group is the database the module talks to: ovs_* and ovn_chassis (the local
            # Open_vSwitch), ovn_sb_* (the Southbound), the other ovn_* (the Northbound).
            database = _resource_database(path)
            groups_of = {"Open_vSwitch": "ovs", "OVN_Northbound": "ovn", "OVN_Southbound": "ovn_sb"}
            assert group == groups_of[database], (path.stem, database)


def test_groups_list_only_modules_that_exist():
    names = {p.stem for p in MODULES}
    for group, members in RUNTIME["action_groups"].items():
        assert set(members) <= names, (group, set(members) - names)


def test_documented_membership_matches_runtime():
    for path in MODULES:
        documented = _membership(_documentation(path))
        expected = {
            f"scloud.stack.{g}" for g, members in RUNTIME["action_groups"].items() if path.stem in members
        }
        assert documented == expected, path.stem
