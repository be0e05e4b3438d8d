"""A small InfluxDB write-API receiver for tests: ``/write`` (v1) and ``/api/v2/write`` (v2) over
HTTP or HTTPS, answering with the status codes and error bodies InfluxDB sends:

- v1: 204 on success; 400 ``{"error": "database is required"}`` / ``unable to parse ...``; 401
  ``{"error": "authorization failed"}``; 404 ``{"error": "database not found: \\"x\\""}``.
- v2: 204; 400 ``{"code": "invalid", "message": ...}``; 401 ``{"code": "unauthorized",
  "message": "unauthorized access"}``; 404 ``{"code": "not found", "message": "bucket \\"x\\" not found"}``.
- ``fail_next = [(status, count)]`` answers the next requests with 503 or 429 (``Retry-After``).

Accepted lines are parsed (measurement, tags, fields, timestamp) and kept in ``points``.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_LINE = re.compile(r"^((?:[^ ,\\]|\\.)+)((?:,(?:[^ \\]|\\.)+)*) ((?:[^ \\]|\\.)+)(?: (-?\d+))?$")


def parse_line(line):
    """(measurement, tags, fields, timestamp) of one line-protocol line; ValueError when malformed."""
    match = _LINE.match(line)
    if not match:
        raise ValueError(f"unable to parse '{line[:80]}': missing fields")
    measurement, tag_text, field_text, stamp = match.groups()
    tags = dict(t.split("=", 1) for t in re.split(r"(?<!\\),", tag_text)[1:]) if tag_text else {}
    fields = {}
    for part in re.split(r"(?<!\\),", field_text):
        name, sep, value = part.partition("=")
        if not sep or not value:
            raise ValueError(f"unable to parse '{line[:80]}': invalid field format")
        fields[name] = float(value.rstrip("i")) if value not in ("true", "false") else value == "true"
    return measurement, tags, fields, int(stamp) if stamp else None


class InfluxReceiver:
    def __init__(
        self,
        *,
        databases=("isi_data_insights",),
        user=None,
        password=None,
        org="quadstats",
        buckets=("onefs",),
        token=None,
        tls_certs=None,
    ):
        self.databases = set(databases)
        self.user, self.password = user, password
        self.org, self.buckets, self.token = org, set(buckets), token
        self.points = []
        self.requests = []  # (path, status)
        self.fail_next = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.receiver = self
        self.scheme = "http"
        if tls_certs:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_certs["cert"], tls_certs["key"])
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def statuses(self):
        with self.lock:
            return [s for _p, s in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        return

    def _answer(self, status, payload=None, headers=()):
        rec = self.server.receiver
        with rec.lock:
            rec.requests.append((self.path.split("?")[0], status))
        body = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("X-Influxdb-Version", "1.8.10" if "/api/v2/" not in self.path else "v2.7.1")
        for name, value in headers:
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: PLR0911 - one return per InfluxDB answer
        rec = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        parts = urlsplit(self.path)
        qs = parse_qs(parts.query)
        v2 = parts.path == "/api/v2/write"
        with rec.lock:
            fault = rec.fail_next[0] if rec.fail_next else None
            if fault:
                status, count = fault
                rec.fail_next[0] = (status, count - 1)
                if count - 1 <= 0:
                    rec.fail_next.pop(0)
        if fault:
            if fault[0] == 429:
                return self._answer(
                    429, {"code": "too many requests", "message": "rate limited"}, [("Retry-After", "1")]
                )
            return self._answer(
                fault[0],
                {"code": "unavailable", "message": "service unavailable"} if v2 else {"error": "service unavailable"},
            )
        auth = self.headers.get("Authorization") or ""
        if v2:
            if rec.token is None or auth != f"Token {rec.token}":
                return self._answer(401, {"code": "unauthorized", "message": "unauthorized access"})
            bucket = (qs.get("bucket") or [""])[0]
            if (qs.get("org") or [""])[0] != rec.org:
                return self._answer(
                    404, {"code": "not found", "message": f'organization name "{qs.get("org")}" not found'}
                )
            if bucket not in rec.buckets:
                return self._answer(404, {"code": "not found", "message": f'bucket "{bucket}" not found'})
        elif parts.path == "/write":
            if rec.user is not None:
                ok = auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode() == f"{rec.user}:{rec.password}"
                if not ok:
                    return self._answer(401, {"error": "authorization failed"})
            db = (qs.get("db") or [""])[0]
            if not db:
                return self._answer(400, {"error": "database is required"})
            if db not in rec.databases:
                return self._answer(404, {"error": f'database not found: "{db}"'})
        else:
            return self._answer(404, None)
        try:
            points = [parse_line(line) for line in body.splitlines() if line.strip()]
        except ValueError as exc:
            return self._answer(400, {"code": "invalid", "message": str(exc)} if v2 else {"error": str(exc)})
        with rec.lock:
            rec.points.extend(points)
        return self._answer(204)
