# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push sinks (InfluxDB v1/v2, discard) and the Prometheus HTTP service-discovery document.

The InfluxDB sink writes line protocol from the core's encoder (``exposition.frames_to_influx``) in its own
thread, so a slow database never delays polling. Batches that fail with a status InfluxDB means as
"try again" (429, 5xx) or a connection error stay queued (bounded: the oldest are dropped and
counted); batches InfluxDB refuses (400, 401, 403, 404, 413) are dropped and counted by kind. One
log line per change of state.
"""

from __future__ import annotations

import logging

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.exposition import frames_to_influx
from ansible_collections.quadstats.stack.plugins.module_utils.wire_formats import (
    prom_family_header,
    prom_labels,
    prom_number,
)
from ansible_collections.quadstats.stack.services.common.http_sink import (
    HttpPoster,
    PushSink,
    SinkStats,
    influx_headers,
    influx_write_url,
)

log = logging.getLogger("quadstats.exporter.onefs")
FLUSH_SECONDS = 5.0


def render_sink_stats(sink):
    """The self-metrics of one push sink."""
    stats = sink.stats
    prefix = "quadstats_onefs_exporter_sink_"
    lab = {"sink": sink.name}
    lines = prom_family_header(prefix + "writes_total", "counter", "Batches the sink accepted")
    lines.append(f"{prefix}writes_total{prom_labels(lab)} {stats.sent}")
    lines += prom_family_header(prefix + "errors_total", "counter", "Failed writes by kind")
    lines += [f"{prefix}errors_total{prom_labels(dict(lab, kind=k))} {n}" for k, n in sorted(stats.errors.items())]
    lines += prom_family_header(prefix + "dropped_batches_total", "counter", "Batches dropped (refused or overflow)")
    lines.append(f"{prefix}dropped_batches_total{prom_labels(lab)} {prom_number(stats.dropped)}")
    lines += prom_family_header(prefix + "pending_batches", "gauge", "Batches waiting to be written")
    lines.append(f"{prefix}pending_batches{prom_labels(lab)} {sink.buffered()}")
    return "\n".join(lines) + "\n"


class DiscardSink:
    """Accepts and drops everything (for tests and load measurements), counting batches."""

    name = "discard"

    def __init__(self):
        self.stats = SinkStats()

    def publish(self, _cluster, frames):
        self.stats.sent += 1
        frames_to_influx(frames)  # do the encoding work a real sink would do

    def buffered(self):
        return 0

    def close(self):
        return


class InfluxSink(PushSink):
    """Writes samples to InfluxDB v1 (``/write``) or v2 (``/api/v2/write``) from a thread; a failed
    write is retried every ``retry_seconds``. One log line per change of state."""

    def __init__(self, settings, retry_seconds=5.0):
        self.name = f"influxdb_v{settings.version}"
        super().__init__(settings.max_pending_batches, retry_seconds, retry_seconds, log)
        self.settings = settings
        url = influx_write_url(
            settings.url, settings.version, database=settings.database, org=settings.org, bucket=settings.bucket
        )
        headers = influx_headers(settings.version, settings.username, settings.secret)
        self.poster = HttpPoster(url, headers, settings.timeout, settings.verify, settings.ca_file)
        self._failing = None

    def publish(self, _cluster, frames):
        body = frames_to_influx(frames)
        if body:
            self.enqueue([body.encode("utf-8")])

    def send(self, payload):
        self.poster.post(payload)

    def failed(self, exc, retry_in):
        message = str(exc) if retry_in is not None else f"{exc} (batch dropped)"
        if self._failing != exc.kind:
            log.error("InfluxDB %s: write failed (%s): %s", self.settings.url, exc.kind, message)
            self._failing = exc.kind

    def succeeded(self):
        if self._failing is not None:
            log.warning("InfluxDB %s: writing again", self.settings.url)
            self._failing = None

    def close_transport(self):
        self.poster.close()

    def close(self):
        self.stop(FLUSH_SECONDS)


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
