# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push sinks: InfluxDB v1/v2, heartbeats to the quadstats backend, JSON lines on stdout.

Each collection is encoded once per sink at once (so a retried payload is exactly what the
collection said) and queued; every sink sends from its own thread. A failing sink keeps at most
``buffer.max_batches`` payloads (the oldest are dropped and counted), retries with doubling backoff
up to ``buffer.retry_max_seconds`` and never blocks the collection or the other sinks. A payload the
receiver refuses (400, 401, 403, 404, 413) is dropped and counted instead of retried.
"""

from __future__ import annotations

import base64
import collections
import datetime
import http.client
import json
import logging
import ssl
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.quadstats.stack.plugins.module_utils.containers import exposition
from ansible_collections.quadstats.stack.plugins.module_utils.errors import (
    KIND_API,
    KIND_AUTHENTICATION,
    KIND_PERMISSION,
    KIND_TIMEOUT,
    KIND_TLS,
    KIND_UNREACHABLE,
    QuadstatsError,
)
from ansible_collections.quadstats.stack.services.common.config import read_secret_file

log = logging.getLogger("quadstats.exporter.containers")
# Answers that mean "never send this again" (the OneFS exporter's rule); others are retried.
REFUSED_STATUSES = frozenset((400, 401, 403, 404, 413))


class SinkError(QuadstatsError):
    """A push failed; ``kind`` from the shared taxonomy (unreachable, timeout, tls, authentication, ...)."""


def tls_context(tls_settings):
    """Verified TLS by default (system CAs, or ``ca_file``); ``verify: false`` only when asked."""
    context = ssl.create_default_context(cafile=tls_settings.get("ca_file"))
    if not tls_settings.get("verify", True):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def post(url, body, headers, context, timeout):
    """POST ``body``; returns the status (2xx). Raises :class:`SinkError` with a kind otherwise."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 # http(s) only (settings)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # noqa: S310
            answer.read()
            return answer.status
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        kind = {401: KIND_AUTHENTICATION, 403: KIND_PERMISSION}.get(exc.code, KIND_API)
        raise SinkError(f"{url} answered {exc.code}: {detail}", kind=kind, status=exc.code) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            message = f"{url}: certificate not trusted ({reason.verify_message}); give the sink's ca_file"
            raise SinkError(message, kind=KIND_TLS) from None
        if isinstance(reason, TimeoutError):
            raise SinkError(f"{url}: no answer within {timeout} s (the timeout setting)", kind=KIND_TIMEOUT) from None
        raise SinkError(f"{url}: {reason}", kind=KIND_UNREACHABLE) from None
    except TimeoutError:
        raise SinkError(f"{url}: no answer within {timeout} s (the timeout setting)", kind=KIND_TIMEOUT) from None
    except (OSError, http.client.HTTPException) as exc:
        raise SinkError(f"{url}: {exc}", kind=KIND_UNREACHABLE) from None


class SinkStats:
    """Counters of one sink, read by the self-metrics."""

    def __init__(self):
        self.sent = 0
        self.dropped = 0
        self.errors = collections.Counter()  # by kind


class PushSink:
    """A queue of encoded payloads and a thread that sends them, oldest first, with backoff."""

    name = "sink"

    def __init__(self, buffer_settings):
        self.max_batches = buffer_settings["max_batches"]
        self.retry_max = buffer_settings["retry_max_seconds"]
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

    def offer(self, samples, extra):
        """Queue what ``samples`` (and the host disk usage in ``extra``) say for this sink."""
        payloads = self.encode(samples, extra)
        with self._cond:
            for payload in payloads:
                if len(self._queue) >= self.max_batches:
                    self._queue.popleft()
                    self.stats.dropped += 1
                self._queue.append(payload)
            self._cond.notify()

    def encode(self, samples, extra):
        """A list of payloads to send (empty: nothing to say)."""
        raise NotImplementedError

    def send(self, payload):
        raise NotImplementedError

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
                if exc.status in REFUSED_STATUSES:
                    # Sending it again would be refused again (bad payload, token, path): drop it.
                    log.warning("sink %s: %s (payload dropped)", self.name, exc)
                    self._drop(payload)
                    continue
                backoff = min(self.retry_max, backoff * 2 if backoff else 1.0)
                waiting = len(self._queue)
                log.warning("sink %s: %s (retry in %g s, %d buffered)", self.name, exc, backoff, waiting)
                with self._cond:
                    if self._stopping:
                        return
                    self._cond.wait(backoff)
                continue
            backoff = 0.0
            self.stats.sent += 1
            self._drop(payload, sent=True)

    def _drop(self, payload, sent=False):
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
        self._thread.join(flush_seconds)


class StdoutSink(PushSink):
    """statspout's stdout repository: one JSON object per container per line."""

    name = "stdout"

    def __init__(self, buffer_settings, stream=None):
        super().__init__(buffer_settings)
        self.stream = stream or sys.stdout

    def encode(self, samples, extra):
        text = exposition.to_json_lines(samples)
        return [text] if text else []

    def send(self, payload):
        try:
            self.stream.write(payload)
            self.stream.flush()
        except (OSError, ValueError) as exc:
            raise SinkError(f"stdout: {exc}", kind=KIND_UNREACHABLE) from None


class InfluxSink(PushSink):
    """InfluxDB line protocol to ``/write`` (v1: database, optional basic auth) or ``/api/v2/write``
    (v2: org, bucket, token)."""

    name = "influxdb"

    def __init__(self, settings, buffer_settings):
        super().__init__(buffer_settings)
        self.measurement = settings["measurement"]
        self.timeout = settings["timeout"]
        self.context = tls_context(settings) if settings["url"].startswith("https://") else None
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if settings["version"] == 1:
            query = {"db": settings["database"], "precision": "ns"}
            if settings["retention_policy"]:
                query["rp"] = settings["retention_policy"]
            self.url = settings["url"] + "/write?" + urllib.parse.urlencode(query)
            if settings["username"]:
                password = read_secret_file(settings["password_file"], "sinks.influxdb.password_file")
                pair = f"{settings['username']}:{password}".encode()
                self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            query = {"org": settings["org"], "bucket": settings["bucket"], "precision": "ns"}
            self.url = settings["url"] + "/api/v2/write?" + urllib.parse.urlencode(query)
            token = read_secret_file(settings["token_file"], "sinks.influxdb.token_file")
            self.headers["Authorization"] = "Token " + token

    def encode(self, samples, extra):
        text = exposition.to_influx([s for s in samples if s.get("state") == "running"], self.measurement)
        return [text.encode("utf-8")] if text else []

    def send(self, payload):
        post(self.url, payload, self.headers, self.context, self.timeout)


def heartbeat_metrics(host, samples, disk, minutes_till_alert, now):
    """The metrics-backend JSON of one collection: a ``ping`` named ``container <name>`` per running
    container and a ``disk`` per host mount with its used percent (``(blocks - bavail) / blocks``)."""
    stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat().replace("+00:00", "Z")
    out = []
    for sample in samples:
        if sample.get("state") != "running":
            continue
        out.append(
            {
                "host": host,
                "name": "container {}".format(sample.get("name") or sample["id"][:12]),
                "type": "ping",
                "value": minutes_till_alert,
                "timestamp": stamp,
            }
        )
    for mount, usage in sorted(disk.items()):
        if usage.get("limit_bytes"):
            percent = round(usage["used_bytes"] * 100.0 / usage["limit_bytes"], 2)
            out.append({"host": host, "name": mount, "type": "disk", "value": percent, "timestamp": stamp})
    return out


class BackendSink(PushSink):
    """Heartbeats and disk usage to the quadstats backend's ``POST /metric`` with a Bearer token."""

    name = "backend"

    def __init__(self, settings, buffer_settings, host):
        super().__init__(buffer_settings)
        self.host = host
        self.url = settings["url"] + "/metric"
        self.minutes = settings["minutes_till_alert"]
        self.batch_items = settings["batch_items"]
        self.timeout = settings["timeout"]
        self.context = tls_context(settings) if settings["url"].startswith("https://") else None
        token = read_secret_file(settings["token_file"], "sinks.backend.token_file")
        self.headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}

    def encode(self, samples, extra):
        items = heartbeat_metrics(self.host, samples, extra.get("disk") or {}, self.minutes, extra["time"])
        size = self.batch_items
        return [json.dumps(items[i : i + size]).encode("utf-8") for i in range(0, len(items), size)]

    def send(self, payload):
        post(self.url, payload, self.headers, self.context, self.timeout)


def build_sinks(cfg):
    """The enabled push sinks (not started). Raises ConfigError for unreadable secret files."""
    sinks = []
    buffer_settings = cfg["buffer"]
    if cfg["sinks"]["stdout"]["enabled"]:
        sinks.append(StdoutSink(buffer_settings))
    if cfg["sinks"]["influxdb"]["enabled"]:
        sinks.append(InfluxSink(cfg["sinks"]["influxdb"], buffer_settings))
    if cfg["sinks"]["backend"]["enabled"]:
        sinks.append(BackendSink(cfg["sinks"]["backend"], buffer_settings, cfg["host"]))
    return sinks
