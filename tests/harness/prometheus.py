"""A real Prometheus (Debian trixie's ``prometheus`` package) in a rootful podman container on this machine.

``Prometheus(remote_write_url, bearer_token).start()`` scrapes itself every second and
remote-writes everything to ``remote_write_url`` with ``Authorization: Bearer <token>`` — the
real sender of the Prometheus remote-write protocol for the backend's ``/api/v1/write`` tests.
Its ``instance`` label is ``127.0.0.1:<port>``. ``scrape_configs`` adds jobs (e.g. exporters on
127.0.0.1: it runs on the host network); without ``remote_write_url`` it only stores.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import yaml

from harness.trixie_container import TrixieContainer, free_tcp_port

PACKAGES = ("prometheus",)
IMAGE = "localhost/qs-backend-prometheus:trixie"


class Prometheus(TrixieContainer):
    def __init__(
        self, remote_write_url: str | None = None, bearer_token: str = "", scrape_configs: tuple[dict, ...] = ()
    ) -> None:
        super().__init__(PACKAGES, IMAGE, "qs-backend-prom-")
        self.port = free_tcp_port()
        self.remote_write_url = remote_write_url
        self.bearer_token = bearer_token
        self.scrape_configs = list(scrape_configs)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{self.port}"]}]},
                *self.scrape_configs,
            ],
        }
        if self.remote_write_url:
            config["remote_write"] = [
                {
                    "url": self.remote_write_url,
                    "authorization": {"type": "Bearer", "credentials_file": "/etc/qs/token"},
                    "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"},
                }
            ]
        return config

    def start(self, timeout: float = 60) -> Prometheus:
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(self.config()))
        (self.dir / "token").write_text(self.bearer_token)
        for name in ("prometheus.yml", "token"):
            (self.dir / name).chmod(0o644)  # read by the container's prometheus user; the directory stays 0700
        mounts = [f"{self.dir / name}:/etc/qs/{name}:ro" for name in ("prometheus.yml", "token")]
        self.run(
            ["-v", mounts[0], "-v", mounts[1], "--user", "prometheus"],
            [
                "/usr/bin/prometheus",
                "--config.file=/etc/qs/prometheus.yml",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.path=/tmp/prometheus-data",
            ],
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if self.state() in ("exited", "stopped"):
                raise RuntimeError(f"Prometheus container {self.name} exited:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prometheus not ready after {timeout} s:\n{self.logs()}")
            time.sleep(0.3)
