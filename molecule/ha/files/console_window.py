"""Count what a drill guest said on its console after a given line (drill 4).

Usage: console_window.py LOG SKIP_LINES. The guest (molecule/cluster/files/guest-init.sh) writes
`scloud-ping ok|fail N UPTIME IDLE` and `scloud-io ok|fail N UPTIME IDLE` lines. Prints JSON: how
many pings and disk round trips succeeded or failed after the first SKIP_LINES lines, and the
longest wait between two successes (guest uptime, seconds), counted from the last success before
the window, so an outage that starts at the window's edge is measured whole.
"""

from __future__ import annotations

import json
import re
import sys

LINE = re.compile(r"^scloud-(ping|io) (ok|fail) (\d+) ([\d.]+)")


def main() -> None:
    path, skip = sys.argv[1], int(sys.argv[2])
    with open(path, encoding="utf-8", errors="replace") as log:
        lines = log.read().splitlines()
    out = {}
    for kind in ("ping", "io"):
        last_ok = None
        figures = {"ok": 0, "fail": 0, "max_gap_s": 0.0, "last": None, "window_s": 0.0}
        first = None
        for number, line in enumerate(lines):
            match = LINE.match(line.strip())
            if not match or match.group(1) != kind:
                continue
            result, uptime = match.group(2), float(match.group(4))
            if number >= skip:
                first = uptime if first is None else first
                figures[result] += 1
                figures["last"] = result
                figures["window_s"] = round(uptime - first, 1)
                if result == "ok" and last_ok is not None:
                    figures["max_gap_s"] = max(figures["max_gap_s"], round(uptime - last_ok, 1))
            if result == "ok":
                last_ok = uptime
        out[kind] = figures
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
