"""200 OVS ports and 200 OVN ports: our OVSDB modules against the usual ways, side by side.

Against the real engines of the test fixtures (ovsdb-server + ovs-vswitchd userspace, OVN NB/SB +
northd + controller), one after the other in one process:

* OVS: ``scloud.stack.ovs_port`` (one OVSDB transaction per port, through the IDL) against
  ``openvswitch.openvswitch.openvswitch_port`` (``ovs-vsctl`` subprocesses, taken from the
  ``ansible`` 10.7.0 wheel, the last that carried it) and against one ``ovs-vsctl`` per port
  called directly (no Ansible): the floor of the CLI way.
* OVN: ``scloud.stack.ovn_port`` (MAC and IP allocated, one transaction per port) against one
  ``ovn-nbctl`` per port called directly (``lsp-add`` + ``lsp-set-addresses`` in one call).

Each Ansible playbook loops one task over the ports and runs twice: first run, then a no-op re-run
that must change nothing. Usage: ``.venv/bin/python benchmarks/ovs_ovn/run.py [--count N]``;
writes ``benchmarks/ovs_ovn/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.harness import run_playbook  # noqa: E402
from tests.integration.engines import ovs as engines  # noqa: E402

WORK = REPO / "benchmarks" / ".work"
THEIR_COLLECTIONS = WORK / "collections"
ENV = {
    "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
    "ANSIBLE_COLLECTIONS_PATH": f"{REPO / 'collections'}:{THEIR_COLLECTIONS}",
}


def openvswitch_collection():
    """``openvswitch.openvswitch`` out of the ansible 10.7.0 wheel, into benchmarks/.work/ only."""
    target = THEIR_COLLECTIONS / "ansible_collections" / "openvswitch"
    if target.exists():
        return
    WORK.mkdir(parents=True, exist_ok=True)
    wheel = WORK / "ansible-10.7.0-py3-none-any.whl"
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "ansible==10.7.0",
                        "-d", str(WORK), "-q"], check=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.startswith("ansible_collections/openvswitch/"):
                zf.extract(name, THEIR_COLLECTIONS)


def timed_play(tasks):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="bench-", delete=False) as fh:
        json.dump(play, fh)
        path = fh.name
    t0 = time.monotonic()
    res = run_playbook(path, envvars=ENV, timeout=3600)
    elapsed = time.monotonic() - t0
    Path(path).unlink()
    if not res.ok or res.failed_count():
        raise SystemExit(f"playbook failed: {res.stdout[-3000:]}")
    return elapsed, res.changed_count()


def timed_cli(argvs):
    t0 = time.monotonic()
    for argv in argvs:
        subprocess.run(argv, check=True, capture_output=True)
    return time.monotonic() - t0


def ports(prefix, count):
    return [f"{prefix}{i:03d}" for i in range(count)]


def bench_ovs(ovs, count):
    rows = {}
    cases = {
        "scloud.stack.ovs_port, ports: (one task, one transaction)": ("br-bb", "bb", lambda br, names: [{
            "name": "ports",
            "scloud.stack.ovs_port": {
                "ports": [{"bridge": br, "name": n, "type": "internal"} for n in names]}}]),
        "scloud.stack.ovs_port": ("br-bo", "bo", lambda br, names: [{
            "name": "ports", "loop": names,
            "scloud.stack.ovs_port": {"bridge": br, "name": "{{ item }}", "type": "internal"}}]),
        "openvswitch.openvswitch.openvswitch_port": ("br-bt", "bt", lambda br, names: [{
            "name": "ports", "loop": names,
            "openvswitch.openvswitch.openvswitch_port": {
                "bridge": br, "port": "{{ item }}", "set": "Interface {{ item }} type=internal"}}]),
    }
    for label, (br, prefix, make) in cases.items():
        ovs.vsctl("--may-exist", "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev")
        names = ports(prefix, count)
        load = os.getloadavg()[0]
        first, changed1 = timed_play(make(br, names))
        noop, changed2 = timed_play(make(br, names))
        assert len(ovs.vsctl("list-ports", br).split()) == count
        rows[label] = (first, noop, changed1, changed2, f"{load:.1f} -> {os.getloadavg()[0]:.1f}")
        ovs.vsctl("--if-exists", "del-br", br)
    br = "br-bc"
    ovs.vsctl("--may-exist", "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev")
    argvs = [["ovs-vsctl", "--may-exist", "add-port", br, p, "--", "set", "Interface", p, "type=internal"]
             for p in ports("bc", count)]
    load = os.getloadavg()[0]
    first = timed_cli(argvs)
    noop = timed_cli(argvs)
    assert len(ovs.vsctl("list-ports", br).split()) == count
    rows["ovs-vsctl, one call per port (no Ansible)"] = (first, noop, "-", "-",
                                                         f"{load:.1f} -> {os.getloadavg()[0]:.1f}")
    ovs.vsctl("--if-exists", "del-br", br)
    return rows


def bench_ovn(ovn, count):
    rows = {}
    ovn.nbctl("--may-exist", "ls-add", "bench-net")
    # The subnet the module allocates from: made with ovn_switch in one small play.
    timed_play([{"name": "subnet", "scloud.stack.ovn_switch": {"name": "bench-sw", "vpc": "bench",
                                                                "cidr": "10.200.0.0/22"}}])
    batch_names = ports("lb", count)
    names = ports("lo", count)
    variants = {
        "scloud.stack.ovn_port, ports: (one task, one transaction)": [{
            "name": "ports",
            "scloud.stack.ovn_port": {"ports": [{"switch": "bench-sw", "name": n} for n in batch_names]}}],
        "scloud.stack.ovn_port": [{"name": "ports", "loop": names,
                                   "scloud.stack.ovn_port": {"switch": "bench-sw", "name": "{{ item }}"}}],
    }
    for n_done, (label, tasks) in enumerate(variants.items(), start=1):
        load = os.getloadavg()[0]
        first, changed1 = timed_play(tasks)
        noop, changed2 = timed_play(tasks)
        assert len(ovn.nbctl("lsp-list", "bench-sw").splitlines()) == count * n_done
        rows[label] = (first, noop, changed1, changed2, f"{load:.1f} -> {os.getloadavg()[0]:.1f}")
    names = names + batch_names
    argvs = []
    for i, p in enumerate(ports("lc", count)):
        mac = f"0a:58:00:00:{i // 256:02x}:{i % 256:02x}"
        ip = f"10.201.{i // 250}.{i % 250 + 2}"
        argvs.append(["ovn-nbctl", "--may-exist", "lsp-add", "bench-net", p, "--",
                      "lsp-set-addresses", p, f"{mac} {ip}", "--", "lsp-set-port-security", p, f"{mac} {ip}"])
    load = os.getloadavg()[0]
    first = timed_cli(argvs)
    noop = timed_cli(argvs)
    assert len(ovn.nbctl("lsp-list", "bench-net").splitlines()) == count
    rows["ovn-nbctl, one call per port (no Ansible)"] = (first, noop, "-", "-",
                                                         f"{load:.1f} -> {os.getloadavg()[0]:.1f}")
    for p in names:
        ovn.nbctl("--if-exists", "lsp-del", p)
    ovn.nbctl("--if-exists", "ls-del", "bench-net")
    ovn.nbctl("--if-exists", "ls-del", "bench-sw")
    for dhcp in ovn.nbctl("--bare", "--columns=_uuid", "find", "DHCP_Options",
                          'external_ids:"scloud:switch"=bench-sw').split():
        ovn.nbctl("destroy", "DHCP_Options", dhcp)
    return rows


def table(rows):
    out = ["| tool | first run (s) | no-op re-run (s) | tasks changed, first / no-op | load average |",
           "| --- | ---: | ---: | --- | --- |"]
    for label, (first, noop, c1, c2, load) in rows.items():
        out.append(f"| `{label}` | {first:.1f} | {noop:.1f} | {c1} / {c2} | {load} |")
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    openvswitch_collection()
    with engines.shared_engine("ovs", engines._ovs_start, engines._ovs_teardown, engines._ovs_healthy):
        ovs = engines.OvsEngine(db=f"unix:{engines.OVS_SOCK}")
        with engines.shared_engine("ovn", lambda: engines._ovn_start(ovs), engines._ovn_teardown,
                                   engines._ovn_healthy):
            ovn = engines.OvnEngine(nb=f"unix:{engines._ovn_paths('nb')['sock']}",
                                    sb=f"unix:{engines._ovn_paths('sb')['sock']}")
            ovs_rows = bench_ovs(ovs, args.count)
            ovn_rows = bench_ovn(ovn, args.count)
    ours, theirs = ovs_rows["scloud.stack.ovs_port"], ovs_rows["openvswitch.openvswitch.openvswitch_port"]
    batch = ovs_rows["scloud.stack.ovs_port, ports: (one task, one transaction)"]
    ovn_batch = ovn_rows["scloud.stack.ovn_port, ports: (one task, one transaction)"]
    ovn_cli = ovn_rows["ovn-nbctl, one call per port (no Ansible)"]
    cli = ovs_rows["ovs-vsctl, one call per port (no Ansible)"]
    lines = [
        f"## ovs_ovn: {args.count} OVS ports and {args.count} OVN ports",
        "",
        f"{args.count} internal ports on a userspace (`netdev`) bridge, then {args.count} OVN logical ports, "
        "against the test fixtures' real daemons. Each Ansible playbook is one task looping over the "
        "ports, run twice (first run, then again: the re-run must change nothing). The CLI rows call "
        "the tool once per port from Python, without Ansible: the floor of the one-subprocess-per-port way.",
        "",
        "### Open vSwitch",
        "",
        *table(ovs_rows),
        "",
        f"Ratios against `ovs_port` with `ports:` (all {args.count} in one task, one OVSDB transaction): "
        f"openvswitch_port {theirs[0] / batch[0]:.1f}x slower first run, {theirs[1] / batch[1]:.1f}x slower "
        f"no-op; {args.count} bare `ovs-vsctl` calls without Ansible took {cli[0]:.1f} s / {cli[1]:.1f} s "
        f"against {batch[0]:.1f} s / {batch[1]:.1f} s for the whole `ports:` playbook run. "
        f"Looped one task per port, `ovs_port` and `openvswitch_port` are both bound by Ansible's "
        f"per-item cost (openvswitch_port / ovs_port: first {theirs[0] / ours[0]:.2f}x, no-op "
        f"{theirs[1] / ours[1]:.2f}x).",
        "",
        "### OVN",
        "",
        *table(ovn_rows),
        "",
        f"`ovn_port` with `ports:`: {ovn_batch[0]:.1f} s first run / {ovn_batch[1]:.1f} s no-op for the "
        f"whole playbook run (Ansible start included), against {ovn_cli[0]:.1f} s / {ovn_cli[1]:.1f} s for "
        f"{args.count} bare `ovn-nbctl` calls.",
        "",
        "`ovn_port` also allocates the IP from the subnet (lowest free address, verified against the "
        "switch's ports inside the same transaction), derives a stable MAC and binds the subnet's DHCP "
        "options; the `ovn-nbctl` row is given precomputed addresses.",
        "",
        "Looped figures are dominated by Ansible's per-item module execution (a new Python process "
        "per loop item, which for the OVSDB modules also opens a session and reads a replica); "
        "`ports:` pays that once for all the ports and writes them in one transaction. The machine "
        "is shared with other jobs: see the load average column.",
        "",
    ]
    out = Path(__file__).with_name("RESULTS.md")
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
