"""A no-op converge of playbooks/site.yml on the running lab (`make up` first).

Every task must be `ok`, none `changed`; the wall time and the task counts are recorded in
benchmarks/site_noop/RESULTS.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.harness import REPO, run_playbook  # noqa: E402


def main():
    start = time.monotonic()
    run = run_playbook("playbooks/site.yml", inventory=str(REPO / "inventories" / "lab"))
    elapsed = time.monotonic() - start
    ok = run.stats.get("ok", {})
    changed = run.stats.get("changed", {})
    rows = [f"| {host} | {ok.get(host, 0)} | {changed.get(host, 0)} |" for host in sorted(ok)]
    lines = [
        "## site_noop: a no-op converge of site.yml on the lab",
        "",
        f"`playbooks/site.yml` on the 3-node lab after `make up`: {elapsed:.0f} s wall time, "
        f"status {run.status}, {run.failed_count()} failed.",
        "",
        "| node | tasks ok | changed |",
        "| --- | --- | --- |",
        *rows,
    ]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if run.ok and run.changed_count() == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
