"""The exporter as a real subprocess (``python3 -m ...container_exporter``) for integration tests,
and a scrape parser. Container names start with ``qs-cx-``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
MODULE = "ansible_collections.quadstats.stack.services.container_exporter"
SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def use_cx_prefix(podman):
    """Make a test podman's container names start with ``qs-cx-`` (shared machine convention)."""
    podman.prefix = f"qs-cx-{podman.run_id}-"
    return podman


def parse_metrics(text):
    """[(name, {label: value}, float value)] of a Prometheus text page."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SERIES.match(line)
        if match is None:
            raise AssertionError(f"not a Prometheus series line: {line!r}")
        out.append((match.group(1), dict(LABEL.findall(match.group(2) or "")), float(match.group(3))))
    return out


class Exporter:
    """One exporter process with a YAML config written from ``settings``."""

    def __init__(self, tmp_path, settings, env=None, port=None):
        from podman_env import free_tcp_port  # noqa: PLC0415 # lives beside the containers tests

        self.port = port or free_tcp_port()
        settings = {**settings, "listen": {**settings.get("listen", {}), "port": self.port}}
        self.config = Path(tmp_path) / "exporter.yml"
        self.write_config(settings)
        self.stderr_path = Path(tmp_path) / "exporter.stderr"
        self.stdout_path = Path(tmp_path) / "exporter.stdout"
        full_env = {**os.environ, "PYTHONPATH": str(REPO / ".venv"), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", MODULE, "--config", str(self.config)],
            env=full_env,
            stdout=self.stdout_path.open("w"),
            stderr=self.stderr_path.open("w"),
        )
        try:
            self.wait(lambda: self.get("/healthz", ok_only=False) is not None, what="the exporter's listener")
        except BaseException:
            self.stop()
            raise

    def write_config(self, settings):
        self.settings = settings
        self.config.write_text(yaml.safe_dump(settings))

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        return self.stderr_path.read_text()

    def get(self, path, ok_only=True):
        """Body text of a GET, or None when nothing listens (or, with ok_only, on an HTTP error)."""
        if self.proc.poll() is not None:
            raise AssertionError(f"exporter exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(self.base + path, timeout=30) as answer:  # noqa: S310 # http://127.0.0.1 only
                return answer.read().decode()
        except urllib.error.HTTPError as exc:
            return None if ok_only else exc.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return None

    def scrape(self):
        return parse_metrics(self.get("/metrics"))

    def containers(self):
        return json.loads(self.get("/containers"))

    def wait(self, predicate, timeout=60, what="condition"):
        """podman_env.wait_for, with the exporter's log in the error."""
        from podman_env import wait_for  # noqa: PLC0415 # lives beside the containers tests

        try:
            return wait_for(predicate, timeout=timeout, what=what)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; exporter log:\n{self.log()[-3000:]}") from None

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=30):
        """SIGTERM and wait: the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"exporter ignored SIGTERM for {timeout} s") from None
        return self.proc.returncode
