"""A local HTTPS stand-in of the Telegram Bot API's ``sendMessage`` that records requests.

``TelegramStandIn().start()`` listens on ``https://127.0.0.1:<port>`` (or ``host``/``port``) with a certificate from a
fresh test CA (``harness.certs``; ``ca_file`` for the client to trust). Every ``POST /bot<token>/sendMessage`` is
recorded (``requests``: path, JSON body, the answer given); answers follow ``script([...])`` in order, then ``ok``:

- ``"ok"`` — ``{"ok": true, "result": {...}}``
- ``"429:N"`` — ``{"ok": false, "error_code": 429, "parameters": {"retry_after": N}}``
- ``"500"`` (any 5xx/4xx code) — that status with ``{"ok": false, ...}``
- ``"hang:S"`` — no answer for S seconds (client timeouts)
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness.certs import make_test_ca


class TelegramStandIn:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, record: Path | None = None) -> None:
        """``host``/``port``: where to listen; ``record``: also append each request as a JSON line (0600)."""
        self.host, self.port, self.record = host, port, record
        self.dir = Path(tempfile.mkdtemp(prefix="qs-backend-telegram-"))
        tls = make_test_ca(self.dir, hostnames=(), ips=(host,), ca_name="telegram stand-in test CA")
        self.ca_file, self._cert, self._key = Path(tls["ca"]), tls["cert"], tls["key"]
        self.requests: list[dict] = []
        self._script: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def script(self, answers: list[str]) -> None:
        with self._lock:
            self._script = list(answers)

    def _next_answer(self) -> str:
        with self._lock:
            return self._script.pop(0) if self._script else "ok"

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self._server.server_address[1]}"

    def start(self) -> TelegramStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                answer = standin._next_answer()
                request = {
                    "path": self.path,
                    "json": body,
                    "content_type": self.headers.get("Content-Type"),
                    "answer": answer,
                }
                with standin._lock:
                    standin.requests.append(request)
                    if standin.record is not None:
                        # the bot token is in the path: the record keeps the message only
                        line = {"time": time.time(), "json": body, "answer": answer}
                        fd = os.open(standin.record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                        with os.fdopen(fd, "a") as out:
                            out.write(json.dumps(line) + "\n")
                if answer.startswith("hang:"):
                    time.sleep(float(answer.split(":", 1)[1]))
                    return
                if answer == "ok":
                    status, data = 200, {"ok": True, "result": {"message_id": len(standin.requests)}}
                elif answer.startswith("429:"):
                    retry = int(answer.split(":", 1)[1])
                    data = {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests",
                        "parameters": {"retry_after": retry},
                    }
                    status = 429
                else:
                    status, data = int(answer), {"ok": False, "error_code": int(answer), "description": "scripted"}
                out = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._cert, self._key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, name="telegram-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for f in self.dir.iterdir():
            f.unlink()
        self.dir.rmdir()
