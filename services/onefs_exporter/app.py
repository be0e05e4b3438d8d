# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running exporter: pollers, listeners and push sinks built from one :class:`Config`.

``Exporter.apply(config)`` starts everything; applying a new config (SIGHUP) stops the old pollers,
listeners and sinks and starts new ones, keeping each cluster's last good values and counters when
its name and address stay the same.
"""

from __future__ import annotations

import json
import logging
import socket

from ansible_collections.quadstats.stack.plugins.module_utils.wire_formats import PROMETHEUS_CONTENT_TYPE
from ansible_collections.quadstats.stack.services.common.httpd import Listener
from ansible_collections.quadstats.stack.services.onefs_exporter.poller import ClusterPoller
from ansible_collections.quadstats.stack.services.onefs_exporter.sinks import (
    DiscardSink,
    InfluxSink,
    http_sd_document,
    render_sink_stats,
)
from ansible_collections.quadstats.stack.services.onefs_exporter.state import (
    ClusterState,
    MergedRender,
    render_clusters,
)

log = logging.getLogger("quadstats.exporter.onefs")
STOP_JOIN_SECONDS = 10.0


class Exporter:
    def __init__(self):
        self.config = None
        self.states = {}  # cluster name -> ClusterState
        self.pollers = []
        self.listeners = []
        self.sinks = []

    # ------------------------------------------------------------ pages
    def _metrics_page(self, names, with_sinks):
        merged = MergedRender()

        def page():
            states = [self.states[n] for n in names if n in self.states]
            text = render_clusters(states, timestamps=self.config.timestamps, merged=merged)
            if with_sinks:
                text += "".join(render_sink_stats(sink) for sink in self.sinks)
            return 200, PROMETHEUS_CONTENT_TYPE, text.encode("utf-8")

        return page

    def _sd_page(self, document):
        body = json.dumps(document).encode("utf-8")
        return lambda: (200, "application/json", body)

    def _publish(self, cluster, frames):
        for sink in self.sinks:
            sink.publish(cluster, frames)

    # ------------------------------------------------------------ lifecycle
    def apply(self, config):
        """Start (or restart with) ``config``; raises OSError when a port cannot be bound."""
        old = self.config
        self.stop()
        keep = {}
        for cluster in config.clusters:
            state = self.states.get(cluster.name)
            same = old is not None and any(
                c.name == cluster.name and (c.host, c.port) == (cluster.host, cluster.port) for c in old.clusters
            )
            keep[cluster.name] = state if (state is not None and same) else ClusterState(cluster.name)
        self.states = keep
        self.config = config
        if config.influx is not None:
            self.sinks.append(InfluxSink(config.influx, retry_seconds=config.min_update_interval).start())
        if config.discard:
            self.sinks.append(DiscardSink())
        names = [c.name for c in config.clusters]
        try:
            if config.prometheus_port:
                routes = {p: self._metrics_page(names, True) for p in ("/metrics", "/")}
                self.listeners.append(Listener(config.prometheus_listen, config.prometheus_port, routes, "metrics"))
            for cluster in config.clusters:
                if cluster.prometheus_port:
                    routes = {p: self._metrics_page([cluster.name], False) for p in ("/metrics", "/")}
                    self.listeners.append(
                        Listener(config.prometheus_listen, cluster.prometheus_port, routes, "metrics-" + cluster.name)
                    )
            if config.http_sd_enabled:
                target_host = config.http_sd_target_host or _advertised_host(config.prometheus_listen)
                page = self._sd_page(http_sd_document(config, target_host))
                self.listeners.append(
                    Listener(config.http_sd_listen, config.http_sd_port, {"/": page, "/sd": page}, "sd")
                )
        except OSError:
            self.stop()
            raise
        publish = self._publish if self.sinks else None
        for cluster in config.clusters:
            self.pollers.append(ClusterPoller(config, cluster, self.states[cluster.name], publish=publish).start())
        log.info(
            "exporting %d cluster(s); listeners on %s",
            len(config.clusters),
            ", ".join(f"{li.host}:{li.port}" for li in self.listeners) or "none",
        )

    def stop(self):
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join(STOP_JOIN_SECONDS)
        for listener in self.listeners:
            listener.close()
        for sink in self.sinks:
            sink.close()
        self.pollers, self.listeners, self.sinks = [], [], []


def _advertised_host(listen):
    """The host name HTTP SD puts into targets when ``target_host`` is not set."""
    if listen in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, not bound
        return socket.getfqdn()
    return listen
