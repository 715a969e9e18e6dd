"""Callback receiver of the HA drill: appends every POST (path, signature header, body) to a file.

Run on the controller: python3 hook.py PORT LOGFILE ADDRESS (its address on the lab network)
"""

from __future__ import annotations

import json
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


if __name__ == "__main__":
    ThreadingHTTPServer((sys.argv[3], int(sys.argv[1])), Hook).serve_forever()
