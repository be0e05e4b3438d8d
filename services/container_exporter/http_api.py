# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exporter's HTTP listener (standard library): ``/metrics`` for Prometheus, the REST API
``/containers`` and ``/containers/<name or id>`` (statspout's REST repository), ``/healthz``."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from ansible_collections.quadstats.stack.plugins.module_utils.containers.exposition import PROMETHEUS_CONTENT_TYPE
from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_NOT_FOUND, error_dict

log = logging.getLogger("quadstats.exporter.containers")
JSON_TYPE = "application/json"


def find_container(views, key):
    """The view whose name or id is ``key`` (an id prefix of 4+ characters when unique), or None."""
    for view in views:
        if key in (view.get("name"), view["id"]):
            return view
    matches = [v for v in views if len(key) >= 4 and v["id"].startswith(key)]
    return matches[0] if len(matches) == 1 else None


def make_handler(daemon):
    class Handler(BaseHTTPRequestHandler):
        server_version = "quadstats-container-exporter"
        protocol_version = "HTTP/1.1"

        def _answer(self, status, body, content_type):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _json(self, status, value):
            self._answer(status, json.dumps(value, sort_keys=True) + "\n", JSON_TYPE)

        def do_GET(self):
            path = urlsplit(self.path).path.rstrip("/") or "/"
            if path == "/metrics":
                self._answer(200, daemon.metrics_text(), PROMETHEUS_CONTENT_TYPE)
            elif path == "/containers":
                self._json(200, daemon.container_views())
            elif path.startswith("/containers/"):
                key = unquote(path[len("/containers/") :])
                found = find_container(daemon.container_views(), key)
                if found is None:
                    self._json(404, {"error": error_dict(KIND_NOT_FOUND, f"no running container named {key}")})
                else:
                    self._json(200, found)
            elif path == "/healthz":
                up = daemon.engine_up
                self._json(200 if up else 503, {"status": "ok" if up else "engine unreachable", "engine_up": up})
            else:
                known = "paths: /metrics, /containers, /containers/<name>, /healthz"
                self._json(404, {"error": error_dict(KIND_NOT_FOUND, known)})

        do_HEAD = do_GET

        def log_message(self, format, *args):  # the base class's signature
            log.debug("http %s - %s", self.address_string(), format % args)

    return Handler


class Listener:
    """A threading HTTP server on ``listen.host``/``listen.port`` (port 0: any free port)."""

    def __init__(self, daemon, host, port):
        self.server = ThreadingHTTPServer((host, port), make_handler(daemon))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def address(self):
        return self.server.server_address[:2]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
