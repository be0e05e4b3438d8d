"""Helpers of the exporter tests: the daemon as a subprocess, metrics page parsing, config entries."""

from __future__ import annotations

import socket
import urllib.request

from harness.daemon import DaemonProcess, parse_metrics
from harness.onefs_simulator.server import DEFAULT_CANARY

USER = "statsreader"
PASSWORD = DEFAULT_CANARY
__all__ = ["PASSWORD", "USER", "ExporterProcess", "cluster_entry", "free_port", "http_get", "metric", "parse_metrics"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - test URL on 127.0.0.1
        return resp.status, resp.read().decode()


def metric(samples, name, **labels):
    return [s for s in samples if s[0] == name and all(s[1].get(k) == v for k, v in labels.items())]


def cluster_entry(name, sim, password_file, **extra):
    entry = {
        "name": name,
        "host": "127.0.0.1",
        "port": sim.port if sim is not None else free_port(),
        "username": USER,
        "password_file": str(password_file),
        "ca_file": str(sim.ca_path) if sim is not None else None,
        "timeout": 3,
        "retries": 0,
    }
    entry = {k: v for k, v in entry.items() if v is not None}
    entry.update(extra)
    return entry


class ExporterProcess(DaemonProcess):
    """The OneFS exporter daemon as a subprocess; stderr goes to a file the test reads."""

    def __init__(self, config_path, log_path):
        super().__init__("onefs_exporter", config_path, log_path)

    def wait_for(self, predicate, timeout=30, what="condition", interval=0.2):
        return super().wait_for(predicate, timeout=timeout, what=what, interval=interval)
