"""Run every benchmark of benchmarks/<name>/run.py and assemble docs/benchmarks.md.

Each benchmark writes benchmarks/<name>/RESULTS.md; this script runs them one after the other
(never in parallel: they measure side by side on the same machine) and joins the results.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv):
    # --collect: only join the RESULTS.md each benchmark last wrote (no new measurement).
    collect = "--collect" in argv
    wanted = {a for a in argv[1:] if not a.startswith("--")}
    parts = ["# Benchmarks", "",
             "Measured by `make bench` on the project's kind of machine (2 cores, 24 GiB, Debian 12).",
             "Each section is written by `benchmarks/<name>/run.py` and compares our way with the usual",
             "way side by side, in one run. The engine benchmarks start their own engines;",
             "`site_noop` needs the lab deployed (`make up`).", ""]
    failures = 0
    for bench in sorted(p.parent for p in (REPO / "benchmarks").glob("*/run.py")):
        if wanted and bench.name not in wanted:
            continue
        if collect:
            results = bench / "RESULTS.md"
            if results.exists():
                parts += [results.read_text().strip(), ""]
            continue
        start = time.monotonic()
        proc = subprocess.run([sys.executable, str(bench / "run.py")], cwd=REPO, check=False)
        elapsed = time.monotonic() - start
        if proc.returncode != 0:
            failures += 1
            parts += [f"## {bench.name}", "", f"FAILED (exit {proc.returncode}) after {elapsed:.0f}s", ""]
            continue
        results = bench / "RESULTS.md"
        if results.exists():
            parts += [results.read_text().strip(), ""]
    (REPO / "docs" / "benchmarks.md").write_text("\n".join(parts) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
