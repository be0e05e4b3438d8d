"""Helpers of the exporter tests: the daemon as a subprocess, metrics page parsing, config entries."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from harness.onefs_simulator.server import DEFAULT_CANARY

REPO = Path(__file__).resolve().parents[3]
USER = "statsreader"
PASSWORD = DEFAULT_CANARY
MODULE = "ansible_collections.quadstats.stack.services.onefs_exporter"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - test URL on 127.0.0.1
        return resp.status, resp.read().decode()


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)(?: (\d+))?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, labels dict, value float, timestamp ms or None)] of a Prometheus text page."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value, stamp = match.groups()
        out.append((name, dict(_LABEL.findall(labels or "")), float(value), int(stamp) if stamp else None))
    return out


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


class ExporterProcess:
    """The daemon as a subprocess; stderr goes to a file the test reads."""

    def __init__(self, config_path, log_path):
        self.config_path = config_path
        self.log_path = log_path
        env = dict(os.environ, PYTHONPATH=str(REPO / ".venv"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", MODULE, "--config", str(config_path)],
            stdout=subprocess.DEVNULL,
            stderr=log_path.open("w"),
            env=env,
            cwd=str(REPO),
        )

    def log(self):
        return self.log_path.read_text()

    def wait_for(self, predicate, timeout=30, what="condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exporter exited with {self.proc.returncode}:\n{self.log()}"
            try:
                last = predicate()
                if last:
                    return last
            except OSError as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{self.log()}")

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
