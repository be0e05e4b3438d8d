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

import datetime
import json
import logging
import sys

from ansible_collections.quadstats.stack.plugins.module_utils.containers import exposition
from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_UNREACHABLE
from ansible_collections.quadstats.stack.services.common import http_sink
from ansible_collections.quadstats.stack.services.common.config import read_secret_file
from ansible_collections.quadstats.stack.services.common.http_sink import HttpPoster, SinkError, SinkStats

log = logging.getLogger("quadstats.exporter.containers")
__all__ = ["SinkError", "SinkStats", "build_sinks", "heartbeat_metrics"]


class PushSink(http_sink.PushSink):
    """The shared push queue with the ``buffer`` settings: doubling backoff from 1 s."""

    def __init__(self, buffer_settings):
        super().__init__(buffer_settings["max_batches"], 1.0, buffer_settings["retry_max_seconds"], log)

    def offer(self, samples, extra):
        """Queue what ``samples`` (and the host disk usage in ``extra``) say for this sink."""
        self.enqueue(self.encode(samples, extra))

    def encode(self, samples, extra):
        """A list of payloads to send (empty: nothing to say)."""
        raise NotImplementedError


class HttpPushSink(PushSink):
    """A push sink that POSTs each payload to one URL."""

    poster = None

    def send(self, payload):
        self.poster.post(payload)

    def close_transport(self):
        self.poster.close()


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


class InfluxSink(HttpPushSink):
    """InfluxDB line protocol to ``/write`` (v1: database, optional basic auth) or ``/api/v2/write``
    (v2: org, bucket, token)."""

    name = "influxdb"

    def __init__(self, settings, buffer_settings):
        super().__init__(buffer_settings)
        self.measurement = settings["measurement"]
        version = settings["version"]
        secret = None
        if version == 2:
            secret = read_secret_file(settings["token_file"], "sinks.influxdb.token_file")
        elif settings["username"]:
            secret = read_secret_file(settings["password_file"], "sinks.influxdb.password_file")
        names = ("database", "org", "bucket", "retention_policy")
        url = http_sink.influx_write_url(settings["url"], version, **{n: settings[n] for n in names})
        headers = http_sink.influx_headers(version, settings["username"], secret)
        self.poster = HttpPoster(url, headers, settings["timeout"], settings["verify"], settings["ca_file"])

    def encode(self, samples, extra):
        text = exposition.to_influx([s for s in samples if s.get("state") == "running"], self.measurement)
        return [text.encode("utf-8")] if text else []


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


class BackendSink(HttpPushSink):
    """Heartbeats and disk usage to the quadstats backend's ``POST /metric`` with a Bearer token."""

    name = "backend"

    def __init__(self, settings, buffer_settings, host):
        super().__init__(buffer_settings)
        self.host = host
        self.minutes = settings["minutes_till_alert"]
        self.batch_items = settings["batch_items"]
        token = read_secret_file(settings["token_file"], "sinks.backend.token_file")
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
        url = settings["url"] + "/metric"
        self.poster = HttpPoster(url, headers, settings["timeout"], settings["verify"], settings["ca_file"])

    def encode(self, samples, extra):
        items = heartbeat_metrics(self.host, samples, extra.get("disk") or {}, self.minutes, extra["time"])
        size = self.batch_items
        return [json.dumps(items[i : i + size]).encode("utf-8") for i in range(0, len(items), size)]


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
