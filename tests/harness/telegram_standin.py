"""A local HTTPS stand-in of the Telegram Bot API's ``sendMessage`` that records requests.

``TelegramStandIn().start()`` listens on ``https://127.0.0.1:<port>`` with a fresh self-signed
certificate (``ca_file`` for the client to trust). Every ``POST /bot<token>/sendMessage`` is
recorded (``requests``: path, JSON body, the answer given); answers follow ``script([...])`` in order, then ``ok``:

- ``"ok"`` — ``{"ok": true, "result": {...}}``
- ``"429:N"`` — ``{"ok": false, "error_code": 429, "parameters": {"retry_after": N}}``
- ``"500"`` (any 5xx/4xx code) — that status with ``{"ok": false, ...}``
- ``"hang:S"`` — no answer for S seconds (client timeouts)
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, written to ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "telegram stand-in")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return cert_file, key_file


class TelegramStandIn:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="qs-backend-telegram-"))
        self.ca_file, self._key = self_signed(self.dir)
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
        return f"https://127.0.0.1:{self._server.server_address[1]}"

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
                with standin._lock:
                    standin.requests.append(
                        {
                            "path": self.path,
                            "json": body,
                            "content_type": self.headers.get("Content-Type"),
                            "answer": answer,
                        }
                    )
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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_file, self._key)
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
