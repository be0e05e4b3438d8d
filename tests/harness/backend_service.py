"""Waiting for a backend service (any process or container) to answer ``/healthz`` with 200."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from harness.daemon import DaemonProcess
from harness.trixie_container import free_tcp_port


def wait_healthy(
    base: str,
    *,
    timeout: float = 60,
    alive: Callable[[], str | None] = lambda: None,
    verify: ssl.SSLContext | bool = True,
) -> None:
    """Poll ``base``/healthz until it answers 200 (readiness, not a timing assertion).

    ``alive()`` returns None while the service may still come up, or a reason it never will (then
    this raises at once with it); after ``timeout`` seconds it raises TimeoutError.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2, verify=verify).status_code == 200:
                return
        except httpx.TransportError:
            pass
        dead = alive()
        if dead:
            raise RuntimeError(f"service at {base} will not become healthy: {dead}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"service at {base} not healthy after {timeout} s")
        time.sleep(0.2)


def start_backend(settings: dict, directory, *, port: int | None = None, tls: dict | None = None, timeout: float = 60):
    """The backend as a real process (``python3 -m …backend --config``) with ``settings``, on
    127.0.0.1 at ``port`` (default: a free one), over HTTPS when ``tls`` (``harness.certs.make_test_ca``'s
    paths) is given; returns ``(daemon, base URL)`` once ``/healthz`` answers 200.

    ``daemon`` is a :class:`harness.daemon.DaemonProcess` (its log, ``stop()``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_tcp_port()
    listen = {"host": "127.0.0.1", "port": port}
    if tls:
        listen.update(tls_cert_file=tls["cert"], tls_key_file=tls["key"])
    config = directory / "backend.yml"
    config.write_text(yaml.safe_dump({**settings, "listen": listen}))
    daemon = DaemonProcess("backend", config, directory / "backend.log")
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    verify = ssl.create_default_context(cafile=tls["ca"]) if tls else True
    try:
        wait_healthy(
            base, timeout=timeout, alive=lambda: None if daemon.proc.poll() is None else daemon.log(), verify=verify
        )
    except BaseException:
        daemon.stop()
        raise
    return daemon, base
