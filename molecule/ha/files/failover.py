"""VIP failover drill, run on the controller: submit a job through the VIP, stop keepalived on
the VIP holder, and measure how long until the VIP answers again from another node.

python3 failover.py --vip IP --port 8443 --key-file ADMIN_KEY --ca-file CA --ssh-key KEY \\
    --callback URL NODE_ADDRESS...
The API is reached over HTTPS, its certificate verified for the VIP against CA (the lab's generated
CA, roles/mgmt_ha).
Prints one JSON object: holder, new_holder, failover_s (from sending the stop to the first answer
through the VIP), stop_command_s, job (the job as the API returned it).
"""

from __future__ import annotations

import argparse
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request


def ssh(key, address, *argv):
    return subprocess.run(
        [
            "ssh",
            "-i",
            key,
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=5",
            f"root@{address}",
            *argv,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def holders(key, vip, nodes):
    return [n for n in nodes if f" {vip}/" in ssh(key, n, "ip", "-4", "-o", "addr", "show")]


def request(url, tls, key=None, data=None, timeout=2.0):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(  # noqa: S310 - https to the lab's VIP
        url,
        data=json.dumps(data).encode() if data is not None else None,
        headers=headers,
        method="POST" if data is not None else "GET",
    )
    with urllib.request.urlopen(req, timeout=timeout, context=tls) as resp:  # noqa: S310 - https to the lab's VIP
        return resp.status, json.loads(resp.read() or b"null")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vip", required=True)
    ap.add_argument("--port", type=int, default=8443)
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--ca-file", required=True, help="CA that the VIP's certificate verifies against")
    ap.add_argument("--ssh-key", required=True)
    ap.add_argument("--callback", required=True)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("nodes", nargs="+")
    args = ap.parse_args()
    api = f"https://{args.vip}:{args.port}"
    tls = ssl.create_default_context(cafile=args.ca_file)
    with open(args.key_file, encoding="utf-8") as fh:
        token = fh.read().strip()

    [holder] = holders(args.ssh_key, args.vip, args.nodes)
    status, job = request(
        f"{api}/v1/jobs",
        tls,
        token,
        {
            "playbook": "diagnostics",
            "callback_url": args.callback,
            "extra_vars": {"diagnostics_command": ["hostname"], "diagnostics_sleep": 10},
        },
    )
    if status != 202:
        raise SystemExit(f"job not accepted: {status} {job}")
    # The job is in flight (it sleeps 10 s) while the VIP moves.
    # The clock starts before the stop command is sent: the figure includes the SSH round trip
    # (an upper bound); keepalived gives the VIP away at once when it stops (priority 0 advert).
    start = time.monotonic()
    ssh(args.ssh_key, holder, "systemctl", "stop", "keepalived.service")
    stopped = time.monotonic()
    failover = None
    while time.monotonic() - start < args.timeout:
        try:
            if request(f"{api}/healthz", tls, timeout=0.5)[0] == 200:
                failover = time.monotonic() - start
                break
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    new = holders(args.ssh_key, args.vip, args.nodes)
    print(
        json.dumps(
            {
                "holder": holder,
                "new_holder": new,
                "failover_s": failover,
                "stop_command_s": round(stopped - start, 3),
                "job": job,
            }
        )
    )


if __name__ == "__main__":
    main()
