"""A callback receiver (on loopback unless told another address of this machine) that answers a
scripted list of HTTP statuses, optionally after a delay (or trickled over it: ``drip``), only once
the test sets ``hold``, and over TLS (``tls``)."""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Receiver:
    def __init__(
        self,
        statuses=(200,),
        host="127.0.0.1",
        delay: float = 0.0,
        drip: float = 0.0,
        hold: threading.Event | None = None,
        tls: ssl.SSLContext | None = None,
    ):
        self.statuses = list(statuses)
        self.calls: list[dict] = []
        self.server_names: list[str | None] = []  # SNI of every TLS handshake
        self.in_flight = 0
        self.max_in_flight = 0
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
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                    outer.cond.notify_all()
                try:
                    if drip:  # the status line at once, then a header line every `drip` s for `delay` s
                        self.wfile.write(f"HTTP/1.1 {status} OK\r\n".encode())
                        self.wfile.flush()
                        end = time.monotonic() + delay
                        while time.monotonic() < end:
                            time.sleep(drip)
                            self.wfile.write(b"x-drip: 1\r\n")
                            self.wfile.flush()
                        self.wfile.write(b"content-length: 0\r\n\r\n")
                        return
                    time.sleep(delay)
                    if hold is not None:  # answer only once the test lets go
                        hold.wait(120)
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                finally:
                    with outer.cond:
                        outer.in_flight -= 1

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that hung up (timeout) or refused the certificate: expected here

        self.server = Server((host, 0), Handler)
        scheme = "http"
        if tls is not None:

            def sni(sslobj, name, ctx):
                outer.server_names.append(name)

            tls.sni_callback = sni
            # The handshake happens in the handler's thread: a refused one does not stall the others.
            self.server.socket = tls.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
            scheme = "https"
        self.port = self.server.server_address[1]
        self.scheme = scheme
        self.url = self.url_for(f"[{host}]" if ":" in host else host)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url_for(self, host: str) -> str:
        """This receiver's URL with another host (a name that resolves to its address)."""
        return f"{self.scheme}://{host}:{self.port}/hook"

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


class ReceiverCA:
    """A CA of its own (cryptography, which ansible-core already needs) that signs server
    certificates for chosen names; ``path`` is the CA file a client trusts."""

    def __init__(self, directory: Path):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = self._cert("test callback CA", self.key, ca=True, names=[])
        self.path = directory / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def _cert(self, subject: str, key, ca: bool, names: list[str]):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test callback CA")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
        return builder.sign(self.key, hashes.SHA256())

    def server_context(self, names: list[str]) -> ssl.SSLContext:
        """A server TLS context with a certificate for ``names`` (DNS names only) signed by this CA."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._cert(names[0], key, ca=False, names=names)
        stem = self.directory / names[0]
        cert_path, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        return ctx
