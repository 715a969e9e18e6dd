"""A no-op converge of playbooks/site.yml on the running lab (`make up` first), side by side.

The same run twice, one after the other on the same converged cloud: with the project's connection
settings (OpenSSH, pipelining, ControlPersist; ansible.cfg) and with Mitogen's strategy plugin
(`mitogen_linear`, one persistent Python interpreter per node instead of a Python start per task),
when the `mitogen` package is installed (`make bench` installs it). Every task must be `ok`, none
`changed`, in both. Wall times and task counts go to benchmarks/site_noop/RESULTS.md.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.harness import REPO, run_playbook  # noqa: E402


def _mitogen_env():
    try:
        import ansible_mitogen
    except ImportError:
        return None
    strategy = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(strategy), "ANSIBLE_STRATEGY": "mitogen_linear"}


def _run(label, envvars):
    start = time.monotonic()
    run = run_playbook("playbooks/site.yml", inventory=str(REPO / "inventories" / "lab"), envvars=envvars)
    elapsed = time.monotonic() - start
    ok = run.stats.get("ok", {})
    changed = run.stats.get("changed", {})
    tasks = ", ".join(f"{ok.get(h, 0)}" for h in sorted(ok))
    print(f"{label}: {elapsed:.1f} s, {run.status}, changed={run.changed_count()}", flush=True)
    return run, elapsed, f"| {label} | {elapsed:.1f} | {run.status} | {tasks} | {sum(changed.values())} |"


def main():
    modes = [("ssh (ansible.cfg)", None)]
    mitogen = _mitogen_env()
    if mitogen:
        modes.append(("mitogen_linear", mitogen))
    results = [_run(label, env) for label, env in modes]
    load = os.getloadavg()[0]
    lines = [
        "## site_noop: a no-op converge of site.yml on the lab",
        "",
        "`playbooks/site.yml` on the 3-node lab after `make up` (host, Ceph with 3 mons and 6 OSDs,",
        "OVS/OVN with 3 chassis, libvirt, PostgreSQL, 3 API replicas, HAProxy, keepalived), the same",
        f"converged cloud, one mode after the other (load average {load:.1f} at the end"
        f", {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
        "",
        "| mode | wall (s) | status | tasks ok per node | changed |",
        "| --- | --- | --- | --- | --- |",
        *(row for _, _, row in results),
    ]
    if len(results) == 2:
        lines += ["", f"Ratio ssh / mitogen: {results[0][1] / results[1][1]:.2f}x."]
    elif not mitogen:
        lines += ["", "Mitogen not installed (`make bench` installs it): one mode only."]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(run.ok and run.changed_count() == 0 for run, _, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
