"""Local receivers speaking the write APIs the exporter pushes to: InfluxDB v1 ``/write``, v2
``/api/v2/write`` and the metrics backend's ``POST /metric``. They check credentials like the real
services (401 on a wrong token) and record what arrived; ``fail_next`` makes them refuse with 503."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Receiver:
    def __init__(self, bearer=None, basic=None, tls=None):
        self.token = bearer  # the token the write API accepts (Bearer or Token scheme)
        self.basic = basic  # (user, password) for InfluxDB v1
        self.requests = []  # (path, query, headers, body)
        self.fail_next = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls["cert"], tls["key"])
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def bodies(self, path):
        with self.lock:
            return [body for p, _q, _h, body in self.requests if p == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def _authorised(self, path, headers):
        auth = headers.get("Authorization", "")
        if path == "/metric":
            return auth == f"Bearer {self.token}"
        if path == "/api/v2/write":
            return auth == f"Token {self.token}"
        if self.basic:
            return auth == "Basic " + base64.b64encode(":".join(self.basic).encode()).decode()
        return True

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= 1 if failing else 0
                if failing:
                    self.send_response(503)
                elif parts.path not in ("/write", "/api/v2/write", "/metric"):
                    self.send_response(404)
                elif not receiver._authorised(parts.path, self.headers):
                    self.send_response(401)
                else:
                    text = body.decode()
                    value = json.loads(text) if parts.path == "/metric" else text
                    with receiver.lock:
                        receiver.requests.append((parts.path, parse_qs(parts.query), dict(self.headers), value))
                    self.send_response(204 if parts.path != "/metric" else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler
