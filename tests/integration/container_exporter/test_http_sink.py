"""The exporters' shared HTTP POST (services/common/http_sink) against a local HTTP/1.1 server: a
kept-alive connection the receiver closed is reopened, and answers map to kinds and drop-or-retry."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.quadstats.stack.services.common.http_sink import HttpPoster, SinkError


class _Server:
    """Answers each POST with the next status of ``statuses`` (then 204); closes the connection after
    every answer without saying so, as a receiver does with an idle keep-alive connection."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                return

            def setup(self):
                super().setup()
                server.connections += 1

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                status = server.statuses.pop(0) if server.statuses else 204
                body = b'{"message": "refused here"}' if status >= 400 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/write?db=x"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    made = []

    def make(statuses=()):
        made.append(_Server(statuses))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def test_a_kept_alive_connection_the_receiver_closed_is_reopened_not_counted(server_factory):
    server = server_factory()
    poster = HttpPoster(server.url, {"Content-Type": "text/plain"}, timeout=5)
    assert [poster.post(f"m v={i} 1\n".encode()) for i in range(3)] == [204, 204, 204]
    assert server.connections == 3
    poster.close()


@pytest.mark.parametrize(
    ("status", "kind", "retry"),
    [(400, "api", False), (401, "authentication", False), (403, "permission", False), (404, "not_found", False),
     (413, "api", False), (429, "api", True), (500, "api", True), (503, "api", True)],
)  # fmt: skip
def test_answers_map_to_a_kind_and_drop_or_retry(server_factory, status, kind, retry):
    poster = HttpPoster(server_factory([status]).url, {}, timeout=5)
    with pytest.raises(SinkError) as caught:
        poster.post(b"m v=1 1\n")
    assert (caught.value.kind, caught.value.status, caught.value.retry) == (kind, status, retry)
    assert str(caught.value) == f"HTTP {status}: refused here"
    poster.close()


def test_nothing_listening_is_unreachable_and_retried():
    server = _Server()
    url = server.url
    server.stop()
    with pytest.raises(SinkError) as caught:
        HttpPoster(url, {}, timeout=5).post(b"m v=1 1\n")
    assert (caught.value.kind, caught.value.retry) == ("unreachable", True)
