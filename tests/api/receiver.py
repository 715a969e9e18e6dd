"""A callback receiver (on loopback unless told another address of this machine) that answers a
scripted list of HTTP statuses."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, statuses=(200,), host="127.0.0.1"):
        self.statuses = list(statuses)
        self.calls: list[dict] = []
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer.cond:
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    outer.calls.append(
                        {
                            "headers": dict(self.headers),
                            "body": body,
                            "at": time.time(),
                            "status": status,
                            "path": self.path,
                        }
                    )
                    outer.cond.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_calls(self, n: int, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.calls) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.calls)} callback calls, expected {n}")
                self.cond.wait(left)
            return list(self.calls)
