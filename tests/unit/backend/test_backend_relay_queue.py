"""The relay's queue: bounded in batches and in bytes, the oldest dropped and counted (no sending here)."""

from __future__ import annotations

import asyncio

from ansible_collections.quadstats.stack.services.backend.observability import BackendMetrics
from ansible_collections.quadstats.stack.services.backend.relay import PrometheusRelay
from ansible_collections.quadstats.stack.services.backend.settings import parse_settings


def relay_of(**limits):
    settings = parse_settings({"prometheus_relay": {"url": "http://127.0.0.1:9/api/v1/write", **limits}})
    metrics = BackendMetrics()
    return PrometheusRelay(settings.prometheus_relay, metrics), metrics


def sample(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels) or 0


def test_the_oldest_batches_go_when_the_bytes_or_the_count_would_overflow():
    relay, metrics = relay_of(queue_batches=3, queue_bytes=2048)
    try:
        for fill in (b"a", b"b", b"c"):
            relay.offer(fill * 1000)
        # 3000 bytes do not fit in 2048: the first went
        assert sample(metrics, "quadstats_backend_prometheus_relay_batches_total", outcome="dropped") == 1
        assert list(relay._queue) == [b"b" * 1000, b"c" * 1000]
        for fill in (b"1", b"2", b"3"):
            relay.offer(fill * 10)
        # three batches at most: b and c went
        assert list(relay._queue) == [b"1" * 10, b"2" * 10, b"3" * 10]
        assert sample(metrics, "quadstats_backend_prometheus_relay_batches_total", outcome="dropped") == 3
        assert sample(metrics, "quadstats_backend_prometheus_relay_queue_batches") == 3
        # a batch larger than the whole limit still goes (alone) rather than being lost unsent
        relay.offer(b"x" * 4096)
        assert list(relay._queue) == [b"x" * 4096]
        assert sample(metrics, "quadstats_backend_prometheus_relay_batches_total", outcome="dropped") == 6
    finally:
        asyncio.run(relay.aclose())
