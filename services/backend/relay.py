# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Relay of accepted remote-write batches to Prometheus (setting ``prometheus_relay``).

Prometheus has no authentication, so it stays private; the backend, which authenticates every host
and binds each series to it, forwards the bodies it accepted (snappy protobuf, as received) to
Prometheus's remote-write receiver. The ingest answer never waits for this: :meth:`offer` puts the
body in a queue bounded in batches and bytes (the oldest are dropped when full) and :meth:`run` sends in the background,
retrying connection errors and 5xx with backoff, dropping a batch Prometheus refuses (4xx). Outcomes
per batch (``quadstats_backend_prometheus_relay_batches_total``): ``relayed``, ``rejected`` (4xx),
``failed`` (retries used up), ``dropped`` (pushed out of a full queue, or still queued at shutdown).
One log line per change between up and failing and one at the first refusal, never one per request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl

import httpx

log = logging.getLogger("quadstats.backend")
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "quadstats-backend-relay",
}
MAX_BACKOFF_SECONDS = 10.0


class PrometheusRelay:
    def __init__(self, settings, counters) -> None:
        """``settings``: a ``PrometheusRelaySettings``; ``counters``: the service's ``BackendMetrics``."""
        self.url = settings.url
        self.max_attempts = settings.max_attempts
        self.backoff_seconds = settings.backoff_seconds
        self.counters = counters
        self._queue: collections.deque[bytes] = collections.deque(maxlen=settings.queue_batches)
        self._bytes, self.max_bytes = 0, settings.queue_bytes  # bodies as received (snappy): what the queue holds
        self._ready = asyncio.Event()
        self._extensions = {"sni_hostname": settings.server_name} if settings.server_name else {}
        verify = ssl.create_default_context(cafile=str(settings.ca_file)) if settings.ca_file else True
        self._http = httpx.AsyncClient(timeout=settings.timeout_seconds, verify=verify)
        self.failing = False
        self.rejected = 0
        counters.relay_up.set(1)  # no failure yet

    def offer(self, body: bytes) -> None:
        """Queue an accepted body; never blocks (a full queue drops its oldest batches)."""
        while self._queue and (len(self._queue) == self._queue.maxlen or self._bytes + len(body) > self.max_bytes):
            self._bytes -= len(self._queue.popleft())
            self.counters.relay.labels("dropped").inc()
        self._queue.append(body)
        self._bytes += len(body)
        self.counters.relay_queue.set(len(self._queue))
        self._ready.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send queued batches in order until ``stop`` is set (what is still queued then is dropped)."""
        try:
            while not stop.is_set():
                if not self._queue:
                    self._ready.clear()
                    waiters = [asyncio.ensure_future(e.wait()) for e in (self._ready, stop)]
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    for waiter in waiters:
                        waiter.cancel()
                    continue
                body = self._queue.popleft()
                self._bytes -= len(body)
                self.counters.relay_queue.set(len(self._queue))
                await self._deliver(body, stop)
        finally:  # also when cancelled at shutdown in the middle of a request
            if self._queue:
                log.info("prometheus relay: %d queued batch(es) dropped at shutdown", len(self._queue))
                self.counters.relay.labels("dropped").inc(len(self._queue))
                self._queue.clear()
                self._bytes = 0
                self.counters.relay_queue.set(0)

    async def _deliver(self, body: bytes, stop: asyncio.Event) -> None:
        for attempt in range(1, self.max_attempts + 1):
            error, retry = await self._post(body)
            if error is None:
                self.counters.relay.labels("relayed").inc()
                self._state(None)
                return
            if not retry:  # Prometheus answered: it is up, this batch is refused (e.g. out-of-order samples)
                self._state(None)
                self._rejected(error)
                return
            self._state(error)
            if attempt < self.max_attempts:
                delay = min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    break
        self.counters.relay.labels("failed").inc()

    async def _post(self, body: bytes) -> tuple[str | None, bool]:
        """``(None, _)`` when Prometheus took the batch, else ``(why, worth retrying)``."""
        try:
            answer = await self._http.post(self.url, content=body, headers=HEADERS, extensions=self._extensions)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300], True
        if answer.is_success:
            return None, False
        why = f"HTTP {answer.status_code} {answer.text.strip()[:200]}".strip()
        return why, answer.status_code >= 500 or answer.status_code == 429

    def _rejected(self, error: str) -> None:
        self.rejected += 1
        if self.rejected == 1:
            log.warning(
                "prometheus relay: %s refused a batch (%s); dropped, further refusals only counted"
                ' (quadstats_backend_prometheus_relay_batches_total{outcome="rejected"})',
                self.url,
                error,
            )
        self.counters.relay.labels("rejected").inc()

    def _state(self, error: str | None) -> None:
        if error is None and self.failing:
            log.info("prometheus relay: %s accepts batches again", self.url)
        elif error is not None and not self.failing:
            log.warning("prometheus relay: %s failing (%s); retrying, further errors not logged", self.url, error)
        self.failing = error is not None
        self.counters.relay_up.set(0 if self.failing else 1)

    async def aclose(self) -> None:
        await self._http.aclose()
