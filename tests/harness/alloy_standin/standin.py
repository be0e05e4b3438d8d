"""STAND-IN for Grafana Alloy in tests: this is NOT Alloy and collects no metrics or logs.

Grafana Alloy exists in no package source reachable from the test machine, so the molecule scenario
of ``quadstats.stack.stats_collector`` runs this program as ``/usr/bin/alloy`` in the image
``localhost/qs-alloy-standin:test``. It proves the wiring the real Alloy depends on and nothing more:

* it is started like Alloy (``alloy run /etc/alloy/config.alloy --server.http.listen-addr=...
  --storage.path=...``) and reads the rendered config at the path Alloy would;
* it finds each ``prometheus.remote_write`` / ``loki.write`` endpoint's ``url``, ``username`` and
  ``password_file`` in that config, reads the secret through the credential mount (re-read per request
  and trimmed, as Alloy does) and POSTs once per start with HTTP basic auth to that URL (a test
  receiver); the body is a JSON report of what it could see, never a real remote-write payload;
* the report says whether the journal files are readable (group ``systemd-journal`` kept), whether
  the host mounts and the secret are read-only, whether the secret is in the environment, and how
  many times it has started on its storage volume;
* it serves ``/-/ready`` (200 once every endpoint took its request, 503 before) and ``/-/healthy``.

TLS certificates are not verified (the receiver's is self-signed); the real Alloy verifies them.
Python standard library only (it runs on the image's Debian python3).
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BANNER = "alloy STAND-IN (quadstats test harness): not Grafana Alloy"
JOURNAL_DIRS = ("/var/log/journal", "/run/log/journal")
WRITERS = ("prometheus.remote_write", "loki.write")
STRING = r'"(?:[^"\\]|\\.)*"'


def log(msg: str) -> None:
    print(f"[alloy-standin] {msg}", flush=True)


def strip_comments(text: str) -> str:
    """Drop // and /* */ comments outside string literals."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i] == '"':
            m = re.compile(STRING).match(text, i)
            end = m.end() if m else n
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            i = text.find("*/", i) + 2 if "*/" in text[i:] else n
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def block_body(text: str, start: int) -> str:
    """The body of the block whose ``{`` is at ``start`` (strings skipped when counting braces)."""
    depth, i = 0, start
    while i < len(text):
        if text[i] == '"':
            i = re.compile(STRING).match(text, i).end()
            continue
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    raise ValueError("unbalanced braces in the config")


def attribute(body: str, name: str) -> str | None:
    m = re.search(rf"\b{re.escape(name)}\s*=\s*({STRING})", body)
    return json.loads(m.group(1)) if m else None


def endpoints(config: str) -> list[dict]:
    """Every writer endpoint of the config: component, url, username, password_file."""
    text = strip_comments(config)
    found = []
    for m in re.finditer(r"\b(" + "|".join(re.escape(w) for w in WRITERS) + r')\s+("[^"]*")\s*\{', text):
        body = block_body(text, m.end() - 1)
        for e in re.finditer(r"\bendpoint\s*\{", body):
            ep = block_body(body, e.end() - 1)
            auth = re.search(r"\bbasic_auth\s*\{", ep)
            auth_body = block_body(ep, auth.end() - 1) if auth else ""
            found.append(
                {
                    "component": f"{m.group(1)}.{json.loads(m.group(2))}",
                    "url": attribute(ep, "url"),
                    "username": attribute(auth_body, "username"),
                    "password_file": attribute(auth_body, "password_file"),
                }
            )
    return found


def read_only(path: str) -> str:
    """'read-only' when writing below/at ``path`` fails with EROFS/EACCES/EPERM, else what happened."""
    target = os.path.join(path, ".alloy-standin-write-test") if os.path.isdir(path) else path
    try:
        with open(target, "a"):
            pass
    except OSError as exc:
        return "read-only" if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else f"error {exc.errno}"
    if os.path.isdir(path):
        os.unlink(target)
    return "WRITABLE"


def journal_access() -> str:
    """'readable' when a journal file can be read, 'denied' when one exists but cannot, 'absent' otherwise."""
    seen_denied = False
    for top in JOURNAL_DIRS:
        for root, _dirs, names in os.walk(top):
            for name in names:
                if name.endswith(".journal"):
                    try:
                        with open(os.path.join(root, name), "rb") as fh:
                            fh.read(8)
                        return "readable"
                    except OSError:
                        seen_denied = True
    return "denied" if seen_denied else "absent"


def count_start(storage: str) -> int:
    os.makedirs(storage, exist_ok=True)
    path = os.path.join(storage, "standin-starts")
    with open(path, "a") as fh:
        fh.write(f"{time.time():.0f}\n")
    with open(path) as fh:
        return len(fh.read().splitlines())


def deliver(endpoint: dict, report: dict) -> int:
    """One POST with basic auth; returns the HTTP status (raises on connection errors)."""
    secret = ""
    headers = {"Content-Type": "application/json", "User-Agent": "alloy-standin", "X-Quadstats-Standin": "1"}
    if endpoint["password_file"]:
        with open(endpoint["password_file"]) as fh:
            secret = fh.read().strip()
        token = base64.b64encode(f"{endpoint['username'] or ''}:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    body = dict(report, component=endpoint["component"])
    body["secret_in_environment"] = bool(secret) and any(secret in v for v in os.environ.values())
    body["credential_mount"] = read_only(endpoint["password_file"]) if endpoint["password_file"] else "none"
    if not str(endpoint["url"]).startswith(("http://", "https://")):
        raise ValueError(f"{endpoint['component']}: url {endpoint['url']!r} is not http(s)")
    data = json.dumps(body).encode()
    request = urllib.request.Request(endpoint["url"], data=data, headers=headers, method="POST")  # noqa: S310
    context = ssl._create_unverified_context()  # noqa: S323 - the test receiver's certificate is self-signed
    with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
        return response.status


class Handler(BaseHTTPRequestHandler):
    ready = threading.Event()

    def do_GET(self) -> None:
        if self.path == "/-/ready":
            ok = self.ready.is_set()
            status, text = (200, "Alloy stand-in is ready.\n") if ok else (503, "Alloy stand-in is not ready.\n")
        elif self.path == "/-/healthy":
            status, text = 200, "Alloy stand-in is healthy.\n"
        else:
            status, text = 200, BANNER + "\n"
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        pass


def main(argv: list[str]) -> int:
    log(BANNER)
    if not argv or argv[0] != "run" or len(argv) < 2:
        log("usage: alloy run CONFIG [--server.http.listen-addr=HOST:PORT] [--storage.path=DIR]")
        return 2
    config_path = argv[1]
    flags = dict(arg[2:].split("=", 1) for arg in argv[2:] if arg.startswith("--") and "=" in arg)
    listen = flags.get("server.http.listen-addr", "127.0.0.1:12345")
    storage = flags.get("storage.path", "/var/lib/alloy/data")
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(0))

    host, port = listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log(f"serving /-/ready on {listen}")

    with open(config_path) as fh:
        config = fh.read()
    targets = endpoints(config)
    log(f"read {config_path}: {len(targets)} endpoint(s)")
    report = {
        "standin": BANNER,
        "config_path": config_path,
        "starts": count_start(storage),
        "journal": journal_access(),
        "host_root": read_only("/host/root"),
        "host_proc_readable": os.access("/host/proc/stat", os.R_OK),
        "host_sys_readable": os.path.isdir("/host/sys/kernel"),
        "uid": os.getuid(),
        "groups": os.getgroups(),
    }
    log(f"report: {json.dumps(report)}")
    for endpoint in targets:
        delay = 1.0
        while True:
            try:
                status = deliver(endpoint, report)
                log(f"{endpoint['component']}: POST {endpoint['url']} -> {status}")
                if 200 <= status < 300:
                    break
            except (OSError, urllib.error.URLError) as exc:
                log(f"{endpoint['component']}: POST {endpoint['url']} failed: {exc}")
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    Handler.ready.set()
    log("ready")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
