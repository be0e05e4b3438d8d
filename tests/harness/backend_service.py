"""Waiting for a backend service (any process or container) to answer ``/healthz`` with 200."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx


def wait_healthy(base: str, *, timeout: float = 60, alive: Callable[[], str | None] = lambda: None) -> None:
    """Poll ``base``/healthz until it answers 200 (readiness, not a timing assertion).

    ``alive()`` returns None while the service may still come up, or a reason it never will (then
    this raises at once with it); after ``timeout`` seconds it raises TimeoutError.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        dead = alive()
        if dead:
            raise RuntimeError(f"service at {base} will not become healthy: {dead}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"service at {base} not healthy after {timeout} s")
        time.sleep(0.2)
