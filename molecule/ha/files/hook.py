"""Callback receiver of the HA drill: appends every POST (path, signature header, body) to a file.

Run on the controller: python3 hook.py PORT LOGFILE ADDRESS (its address on the lab network). It
binds, then leaves the caller (double fork, new session, stdio on /dev/null) and serves for at most
an hour: the task that starts it returns at once, whatever Ansible strategy runs it (an `async` task
depends on how the strategy runs background jobs; under Mitogen's one CI run lost the receiver).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        with open(sys.argv[2], "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {"path": self.path, "signature": self.headers.get("webhook-signature"), "body": body}
                )
                + "\n"
            )
        self.send_response(204)
        self.end_headers()


def _detach():
    if os.fork() > 0:
        os._exit(0)  # the caller's process: the task returns once the port is bound
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


if __name__ == "__main__":
    server = ThreadingHTTPServer((sys.argv[3], int(sys.argv[1])), Hook)  # a busy port fails here
    _detach()
    signal.alarm(3600)  # the default action of SIGALRM ends the process
    server.serve_forever()
