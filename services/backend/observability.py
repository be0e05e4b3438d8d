# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service's own ``/metrics``: request counts and latencies, outbox depth, alert states, Telegram and relay results.

One registry per app (no module-level state, several apps in one test process). Request metrics
are labelled by the route's path template (a fixed set), never by the raw URL.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("quadstats.backend")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class BackendMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "quadstats_backend_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "quadstats_backend_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.telegram = Counter(
            "quadstats_backend_telegram_sends",
            "Telegram sendMessage attempts by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.relay = Counter(
            "quadstats_backend_prometheus_relay_batches",
            "Remote-write batches relayed to Prometheus by outcome (relayed, rejected, failed, dropped)",
            ["outcome"],
            registry=self.registry,
        )
        self.relay_queue = Gauge(
            "quadstats_backend_prometheus_relay_queue_batches",
            "Accepted remote-write batches waiting to be relayed to Prometheus",
            registry=self.registry,
        )
        self.relay_up = Gauge(
            "quadstats_backend_prometheus_relay_up",
            "1 when the last relay attempt to Prometheus succeeded, 0 while it fails",
            registry=self.registry,
        )
        self.outbox = Gauge(
            "quadstats_backend_outbox_messages", "Outbox messages by state", ["state"], registry=self.registry
        )
        self.database_up = Gauge(
            "quadstats_backend_database_up",
            "1 when this scrape read the figures below from the database, 0 when it could not reach it",
            registry=self.registry,
        )
        self.metric_states = Gauge(
            "quadstats_backend_metrics",
            "Reported metrics by type and alert state",
            ["type", "state"],
            registry=self.registry,
        )

    def telegram_outcome(self, result) -> None:
        if result.ok:
            outcome = "ok"
        elif result.retry_after is not None:
            outcome = "rate_limited"
        elif result.permanent:
            outcome = "rejected"
        else:
            outcome = "error"
        self.telegram.labels(outcome).inc()

    async def refresh_from_pool(self, pool) -> None:
        """Database figures, best effort: when the database is away the rest still answers, saying so."""
        try:
            async with pool.connection(timeout=5) as conn:
                await self.refresh_from_database(conn)
        except Exception as exc:
            log.warning("/metrics: database figures unavailable (%s)", type(exc).__name__)
            self.database_up.set(0)
        else:
            self.database_up.set(1)

    async def refresh_from_database(self, conn) -> None:
        cur = await conn.execute(
            "SELECT CASE WHEN sent_at IS NOT NULL THEN 'sent' WHEN failed_at IS NOT NULL THEN 'failed'"
            " ELSE 'pending' END, count(*) FROM outbox GROUP BY 1"
        )
        counts = dict(await cur.fetchall())
        for state in ("pending", "sent", "failed"):
            self.outbox.labels(state).set(counts.get(state, 0))
        cur = await conn.execute("SELECT type, state, count(*) FROM metrics GROUP BY 1, 2")
        rows = {(t, s): n for t, s, n in await cur.fetchall()}
        for type_ in ("disk", "ping"):
            for state in ("ok", "alert"):
                self.metric_states.labels(type_, state).set(rows.get((type_, state), 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetricsMiddleware:
    """Count and time every HTTP request by its route template (``other`` for unknown paths)."""

    def __init__(self, app, metrics: BackendMetrics, routes: frozenset[str]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope.get("path", "") if scope.get("path", "") in self.routes else "other"
        status = 500
        start = time.perf_counter()

        async def capture(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
            self.metrics.requests.labels(route, str(status)).inc()
