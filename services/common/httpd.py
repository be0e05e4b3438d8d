# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small threaded HTTP listener for exporter daemons (standard library only).

``Listener(host, port, routes)`` serves GET requests: ``routes`` maps a path to a callable that
returns ``(status, content type, body bytes)``; ``prefix_routes`` maps a path prefix (``/containers/``)
to a callable that takes the rest of the path (``web``) and returns the same. Each listener runs in
its own thread; ``close()`` stops it and frees the port (reuse-address is on, so a reload can bind the same port again).
"""

from __future__ import annotations

import functools
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("quadstats.services.httpd")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        log.debug("HTTP client %s: connection error", client_address[0], exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "quadstats"
    sys_version = ""

    def log_message(self, format, *args):  # the base class's signature
        return

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        route = self.server.routes.get(path)
        if route is None:
            for prefix, handler in self.server.prefix_routes.items():
                if path.startswith(prefix) and len(path) > len(prefix):
                    route = functools.partial(handler, path[len(prefix) :])
                    break
        if route is None:
            status, ctype, body = 404, "text/plain; charset=utf-8", b"not found\n"
        else:
            try:
                status, ctype, body = route()
            except Exception:  # a failing page must not take the listener down
                log.exception("HTTP %s failed", path)
                status, ctype, body = 500, "text/plain; charset=utf-8", b"internal error\n"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Listener:
    """One HTTP listener on ``host:port`` serving ``routes`` (path -> callable) and ``prefix_routes``
    (path prefix -> callable taking the rest of the path)."""

    def __init__(self, host, port, routes, name="http", prefix_routes=None):
        self.server = _Server((host, port), _Handler)
        self.server.routes = dict(routes)
        self.server.prefix_routes = dict(prefix_routes or {})
        self.host = host
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"{name}-{self.port}", daemon=True
        )
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
