"""The exporter as a real subprocess (``python3 -m ...container_exporter``) for integration tests,
and a scrape parser. Container names start with ``qs-cx-``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from harness import daemon
from harness.daemon import REPO, DaemonProcess

MODULE = daemon.SERVICES + "container_exporter"
__all__ = ["MODULE", "REPO", "Exporter", "parse_metrics", "start_idle_containers", "use_cx_prefix"]


def use_cx_prefix(podman):
    """Make a test podman's container names start with ``qs-cx-`` (shared machine convention)."""
    podman.prefix = f"qs-cx-{podman.run_id}-"
    return podman


def start_idle_containers(podman, names, batch=25):
    """Create and start labelled idle busybox containers (``sleep 3600``), ``batch`` per start."""
    for name in names:
        podman.podman("create", "--name", name, "--label", podman.label, podman.image, "sleep", "3600")
    for first in range(0, len(names), batch):
        podman.podman("start", *names[first : first + batch], timeout=300)


def parse_metrics(text):
    """[(name, {label: value}, float value)] of a Prometheus text page."""
    return [sample[:3] for sample in daemon.parse_metrics(text)]


class Exporter(DaemonProcess):
    """One container exporter process with a YAML config written from ``settings``; ready once its
    listener answers."""

    def __init__(self, tmp_path, settings, env=None, port=None):
        from podman_env import free_tcp_port  # noqa: PLC0415 # lives beside the containers tests

        self.port = port or free_tcp_port()
        settings = {**settings, "listen": {**settings.get("listen", {}), "port": self.port}}
        self.config = Path(tmp_path) / "exporter.yml"
        self.write_config(settings)
        super().__init__(
            "container_exporter",
            self.config,
            Path(tmp_path) / "exporter.stderr",
            stdout_path=Path(tmp_path) / "exporter.stdout",
            env=env,
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

    def get(self, path, ok_only=True):
        """Body text of a GET, or None when nothing listens (or, with ok_only, on an HTTP error)."""
        self.check_running()
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
        return self.wait_for(predicate, timeout=timeout, what=what)
