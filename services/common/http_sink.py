# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push sinks the exporters share: a bounded queue sent from a thread with backoff, an HTTP POST that
names its failures by error kind, and the InfluxDB v1/v2 write API (URL, precision, auth header).

The rule for an answer: 2xx is written; 429, 5xx and connection failures (unreachable, timeout, TLS)
keep the payload and retry it; any other status (400, 401, 403, 404, 413: it would be refused again)
drops it and counts it. TLS is verified by default (system CAs, or ``ca_file``).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import http.client
import json
import ssl
import threading
from urllib.parse import urlencode, urlsplit

from ansible_collections.quadstats.stack.plugins.module_utils.errors import (
    KIND_API,
    KIND_AUTHENTICATION,
    KIND_NOT_FOUND,
    KIND_PERMISSION,
    KIND_TIMEOUT,
    KIND_TLS,
    KIND_UNREACHABLE,
    QuadstatsError,
)

# How a kept-alive connection the receiver closed while idle shows up on the next request.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
STATUS_KINDS = {401: KIND_AUTHENTICATION, 403: KIND_PERMISSION, 404: KIND_NOT_FOUND}


class SinkError(QuadstatsError):
    """A push failed; ``kind`` from the shared taxonomy, ``status`` the receiver's HTTP status (if any)."""

    stale = False  # a kept-alive connection the receiver had closed

    @property
    def retry(self):
        """Whether sending the same payload again may succeed (else it is dropped)."""
        return self.status is None or self.status == 429 or 500 <= self.status < 600


def status_kind(status):
    """The error kind of a non-2xx HTTP answer."""
    return STATUS_KINDS.get(status, KIND_API)


def tls_context(verify=True, ca_file=None):
    """Verified TLS by default (system CAs, or ``ca_file``); ``verify=False`` only when asked."""
    context = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def error_text(body):
    """The receiver's error message: InfluxDB v1 ``{"error"}``, v2 ``{"message"}``, else the text."""
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or data.get("detail") or data)[:300]
    return str(data)[:300]


class HttpPoster:
    """POSTs to one URL over a kept-alive connection; :meth:`post` raises :class:`SinkError`."""

    def __init__(self, url, headers, timeout, verify=True, ca_file=None):
        parts = urlsplit(url)
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = dict(headers)
        self.timeout = timeout
        self.context = tls_context(verify, ca_file) if self.https else None
        self._conn = None

    def post(self, body):
        """Send ``body``; returns the (2xx) status."""
        if self._conn is not None:
            try:
                return self._post(body)
            except SinkError as exc:
                if not exc.stale:
                    raise
            # The receiver closed the kept-alive connection while idle: once more on a new one.
        return self._post(body)

    def _post(self, body):
        try:
            if self._conn is None:
                if self.https:
                    self._conn = http.client.HTTPSConnection(
                        self.host, self.port, timeout=self.timeout, context=self.context
                    )
                else:
                    self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._conn.request("POST", self.target, body=body, headers=self.headers)
            answer = self._conn.getresponse()
            text = answer.read()
            if answer.will_close:
                self.close()
        except ssl.SSLCertVerificationError as exc:
            self.close()
            message = f"TLS verification failed ({exc.verify_message}): set the sink's ca_file"
            raise SinkError(message, kind=KIND_TLS) from None
        except TimeoutError:
            self.close()
            raise SinkError(f"no answer within {self.timeout:g} s (the timeout setting)", kind=KIND_TIMEOUT) from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            error = SinkError(f"cannot reach {self.host}:{self.port} ({exc})", kind=KIND_UNREACHABLE)
            error.stale = isinstance(exc, _STALE)
            raise error from None
        if not 200 <= answer.status < 300:
            status = answer.status
            raise SinkError(f"HTTP {status}: {error_text(text)}", kind=status_kind(status), status=status)
        return answer.status

    def close(self):
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None


def influx_write_url(url, version, *, database=None, org=None, bucket=None, retention_policy=None):
    """The write URL: v1 ``/write?db=…[&rp=…]``, v2 ``/api/v2/write?org=…&bucket=…``, precision ns."""
    base = url.rstrip("/")
    if version == 1:
        query = {"db": database, "precision": "ns"}
        if retention_policy:
            query["rp"] = retention_policy
        return base + "/write?" + urlencode(query)
    return base + "/api/v2/write?" + urlencode({"org": org, "bucket": bucket, "precision": "ns"})


def influx_headers(version, username=None, secret=None):
    """Headers of a line-protocol write: v2 ``Token`` auth, v1 basic auth when a user is given."""
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if version == 2:
        headers["Authorization"] = "Token " + secret
    elif username:
        pair = f"{username}:{secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return headers


class SinkStats:
    """Counters of one sink, read by the self-metrics."""

    def __init__(self):
        self.sent = 0
        self.dropped = 0  # refused payloads and buffer overflow
        self.errors = collections.Counter()  # by kind


class PushSink:
    """A bounded queue of encoded payloads and a thread that sends them, oldest first.

    A failure the receiver may get over (:attr:`SinkError.retry`) keeps the payload and waits
    ``retry_first`` seconds, doubling up to ``retry_max``; any other drops it. A full queue drops its
    oldest payload. Subclasses give :meth:`send` and may change how failures are logged.
    """

    name = "sink"

    def __init__(self, max_batches, retry_first, retry_max, logger):
        self.max_batches = max_batches
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.log = logger
        self.stats = SinkStats()
        self._queue = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def buffered(self):
        with self._cond:
            return len(self._queue)

    def enqueue(self, payloads):
        with self._cond:
            for payload in payloads:
                if len(self._queue) >= self.max_batches:
                    self._queue.popleft()
                    self.stats.dropped += 1
                self._queue.append(payload)
            self._cond.notify()

    def send(self, payload):
        """Deliver one payload or raise :class:`SinkError`."""
        raise NotImplementedError

    def failed(self, exc, retry_in):
        """Log a failure (``retry_in`` None: the payload was dropped)."""
        if retry_in is None:
            self.log.warning("sink %s: %s (payload dropped)", self.name, exc)
        else:
            self.log.warning("sink %s: %s (retry in %g s, %d buffered)", self.name, exc, retry_in, self.buffered())

    def succeeded(self):
        """Called after each delivered payload (to log a recovery)."""

    def close_transport(self):
        """Release connections once the thread is done."""

    def _run(self):
        backoff = 0.0
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                payload = self._queue[0]
            try:
                self.send(payload)
            except SinkError as exc:
                self.stats.errors[exc.kind] += 1
                if not exc.retry:
                    self.failed(exc, None)
                    self._done(payload, sent=False)
                    continue
                backoff = min(self.retry_max, backoff * 2 if backoff else self.retry_first)
                self.failed(exc, backoff)
                with self._cond:
                    if self._stopping:
                        return
                    self._cond.wait(backoff)
                continue
            backoff = 0.0
            self.stats.sent += 1
            self._done(payload, sent=True)
            self.succeeded()

    def _done(self, payload, sent):
        with self._cond:
            if self._queue and self._queue[0] is payload:
                self._queue.popleft()
                if not sent:
                    self.stats.dropped += 1

    def stop(self, flush_seconds):
        """Stop after trying to send what is buffered for at most ``flush_seconds``."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(flush_seconds)
        self.close_transport()
