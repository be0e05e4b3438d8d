# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push sinks (InfluxDB v1/v2, discard) and the Prometheus HTTP service-discovery document.

The InfluxDB sink writes line protocol from the core's encoder (``exposition.to_influx``) in its own
thread, so a slow database never delays polling. Batches that fail with a status InfluxDB means as
"try again" (429, 5xx) or a connection error stay queued (bounded: the oldest are dropped and
counted); batches InfluxDB refuses (400, 401, 403, 404, 413) are dropped and counted by kind. One
log line per change of state.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import http.client
import json
import logging
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
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.exposition import to_influx
from ansible_collections.quadstats.stack.plugins.module_utils.wire_formats import (
    prom_family_header,
    prom_labels,
    prom_number,
)

log = logging.getLogger("quadstats.exporter.onefs")
RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))
DROP_KINDS = {400: KIND_API, 401: KIND_AUTHENTICATION, 403: KIND_PERMISSION, 404: KIND_NOT_FOUND, 413: KIND_API}


class SinkStats:
    """Counters of one push sink, rendered as self-metrics."""

    def __init__(self, name):
        self.name = name
        self.writes = 0
        self.errors = {}
        self.dropped = 0
        self.pending = 0

    def render(self):
        prefix = "quadstats_onefs_exporter_sink_"
        lab = {"sink": self.name}
        lines = prom_family_header(prefix + "writes_total", "counter", "Batches the sink accepted")
        lines.append(f"{prefix}writes_total{prom_labels(lab)} {self.writes}")
        lines += prom_family_header(prefix + "errors_total", "counter", "Failed writes by kind")
        lines += [f"{prefix}errors_total{prom_labels(dict(lab, kind=k))} {n}" for k, n in sorted(self.errors.items())]
        lines += prom_family_header(
            prefix + "dropped_batches_total", "counter", "Batches dropped (refused or overflow)"
        )
        lines.append(f"{prefix}dropped_batches_total{prom_labels(lab)} {prom_number(self.dropped)}")
        lines += prom_family_header(prefix + "pending_batches", "gauge", "Batches waiting to be written")
        lines.append(f"{prefix}pending_batches{prom_labels(lab)} {self.pending}")
        return "\n".join(lines) + "\n"


class DiscardSink:
    """Accepts and drops everything (for tests and load measurements), counting batches."""

    def __init__(self):
        self.stats = SinkStats("discard")

    def publish(self, _cluster, samples):
        self.stats.writes += 1
        to_influx(samples)  # do the encoding work a real sink would do

    def close(self):
        return


class InfluxSink:
    """Writes samples to InfluxDB v1 (``/write``) or v2 (``/api/v2/write``) from a thread."""

    def __init__(self, settings, retry_seconds=5.0):
        self.settings = settings
        self.stats = SinkStats(f"influxdb_v{settings.version}")
        parts = urlsplit(settings.url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        base = parts.path.rstrip("/")
        if settings.version == 1:
            query = {"db": settings.database, "precision": "ns"}
            self.target = base + "/write?" + urlencode(query)
        else:
            query = {"org": settings.org, "bucket": settings.bucket, "precision": "ns"}
            self.target = base + "/api/v2/write?" + urlencode(query)
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if settings.version == 2:
            self.headers["Authorization"] = "Token " + settings.secret
        elif settings.username:
            token = base64.b64encode(f"{settings.username}:{settings.secret}".encode()).decode("ascii")
            self.headers["Authorization"] = "Basic " + token
        self.retry_seconds = retry_seconds
        self._queue = collections.deque()
        self._cond = threading.Condition()
        self._stop = False
        self._conn = None
        self._failing = None
        self._thread = threading.Thread(target=self._run, name="influx-sink", daemon=True)
        self._thread.start()

    def publish(self, _cluster, samples):
        body = to_influx(samples)
        if not body:
            return
        with self._cond:
            if len(self._queue) >= self.settings.max_pending_batches:
                self._queue.popleft()
                self.stats.dropped += 1
            self._queue.append(body.encode("utf-8"))
            self.stats.pending = len(self._queue)
            self._cond.notify()

    def close(self, flush_seconds=5.0):
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(flush_seconds)
        self._drop_connection()

    def _context(self):
        s = self.settings
        if s.verify:
            return ssl.create_default_context(cafile=s.ca_file or None)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _drop_connection(self):
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None

    def _run(self):
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if not self._queue:
                    return
                body = self._queue[0]
            outcome = self._write(body)
            with self._cond:
                if outcome != "retry" and self._queue and self._queue[0] is body:
                    self._queue.popleft()
                self.stats.pending = len(self._queue)
                if outcome == "retry":
                    if self._stop:
                        return
                    self._cond.wait(self.retry_seconds)

    def _write(self, body):
        """One POST. Returns "ok", "drop" (InfluxDB refused the batch) or "retry"."""
        try:
            if self._conn is None:
                timeout = self.settings.timeout
                if self.https:
                    self._conn = http.client.HTTPSConnection(
                        self.host, self.port, timeout=timeout, context=self._context()
                    )
                else:
                    self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self._conn.request("POST", self.target, body=body, headers=self.headers)
            resp = self._conn.getresponse()
            text = resp.read()
            status = resp.status
            if resp.will_close:
                self._drop_connection()
        except ssl.SSLCertVerificationError as exc:
            self._drop_connection()
            return self._failed(KIND_TLS, f"TLS verification failed ({exc.verify_message}): set ca_file", "retry")
        except TimeoutError:
            self._drop_connection()
            return self._failed(KIND_TIMEOUT, f"no answer within {self.settings.timeout:g} s", "retry")
        except (OSError, http.client.HTTPException) as exc:
            self._drop_connection()
            return self._failed(KIND_UNREACHABLE, f"cannot reach {self.host}:{self.port} ({exc})", "retry")
        if 200 <= status < 300:
            self.stats.writes += 1
            if self._failing is not None:
                log.warning("InfluxDB %s: writing again", self.settings.url)
                self._failing = None
            return "ok"
        message = _influx_message(text)
        if status in RETRY_STATUSES:
            return self._failed(KIND_API, f"HTTP {status}: {message}", "retry")
        kind = DROP_KINDS.get(status, KIND_API)
        self.stats.dropped += 1
        return self._failed(kind, f"HTTP {status}: {message} (batch dropped)", "drop")

    def _failed(self, kind, message, outcome):
        self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1
        if self._failing != kind:
            log.error("InfluxDB %s: write failed (%s): %s", self.settings.url, kind, message)
            self._failing = kind
        return outcome


def _influx_message(body):
    """InfluxDB's error text: v1 ``{"error": ...}``, v2 ``{"code", "message"}``."""
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or data)[:300]
    return str(data)[:300]


def http_sd_document(config, target_host):
    """Prometheus HTTP SD: one target group per metrics endpoint (the full list every time)."""
    groups = []
    if config.prometheus_port:
        groups.append(
            {
                "targets": [f"{target_host}:{config.prometheus_port}"],
                "labels": {"__meta_quadstats_onefs_endpoint": "all"},
            }
        )
    for cluster in config.clusters:
        if cluster.prometheus_port:
            groups.append(
                {
                    "targets": [f"{target_host}:{cluster.prometheus_port}"],
                    "labels": {
                        "__meta_quadstats_onefs_endpoint": "cluster",
                        "__meta_quadstats_onefs_cluster": cluster.name,
                    },
                }
            )
    return groups
