"""A real Prometheus (Debian trixie's ``prometheus`` package) in a rootful podman container on this machine.

``Prometheus(remote_write_url, bearer_token).start()`` scrapes itself every second and
remote-writes everything to ``remote_write_url`` with ``Authorization: Bearer <token>`` — the
real sender of the Prometheus remote-write protocol for the backend's ``/api/v1/write`` tests.
Its ``instance`` label is ``127.0.0.1:<port>``. ``scrape_configs`` adds jobs (e.g. exporters on
127.0.0.1: it runs on the host network); without ``remote_write_url`` it only stores.
``receiver=True`` turns its remote-write receiver on (``/api/v1/write``); ``tls`` (paths from
``harness.certs.make_test_ca``) makes it serve HTTPS with that certificate (a web config file).
``rule_files`` ({file name: rules YAML}) are loaded as its ``rule_files`` (``/etc/qs/<name>``); firing and
pending alerts are then at ``/api/v1/alerts`` (no Alertmanager needed).
"""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from harness.trixie_container import TrixieContainer, free_tcp_port

PACKAGES = ("prometheus",)
IMAGE = "localhost/qs-backend-prometheus:trixie"


class Prometheus(TrixieContainer):
    def __init__(
        self,
        remote_write_url: str | None = None,
        bearer_token: str = "",
        scrape_configs: tuple[dict, ...] = (),
        *,
        receiver: bool = False,
        tls: dict | None = None,
        port: int | None = None,
        rule_files: dict[str, str] | None = None,
    ) -> None:
        super().__init__(PACKAGES, IMAGE, "qs-backend-prom-")
        self.port = port or free_tcp_port()
        self.receiver, self.tls = receiver, tls
        self.remote_write_url = remote_write_url
        self.bearer_token = bearer_token
        self.scrape_configs = list(scrape_configs)
        self.rule_files = dict(rule_files or {})

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def config(self) -> dict:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "prometheus",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.port}"]}],
                    **({"scheme": "https", "tls_config": {"insecure_skip_verify": True}} if self.tls else {}),
                },
                *self.scrape_configs,
            ],
        }
        if self.rule_files:
            config["rule_files"] = [f"/etc/qs/{name}" for name in self.rule_files]
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
        files = {"prometheus.yml": yaml.safe_dump(self.config()), "token": self.bearer_token, **self.rule_files}
        flags = []
        if self.receiver:
            flags.append("--web.enable-remote-write-receiver")
        if self.tls:
            files["server.pem"] = Path(self.tls["cert"]).read_text()
            files["server.key"] = Path(self.tls["key"]).read_text()
            web = {"tls_server_config": {"cert_file": "/etc/qs/server.pem", "key_file": "/etc/qs/server.key"}}
            files["web.yml"] = yaml.safe_dump(web)
            flags.append("--web.config.file=/etc/qs/web.yml")
        mounts = []
        for name, content in files.items():
            (self.dir / name).write_text(content)
            (self.dir / name).chmod(0o644)  # read by the container's prometheus user; the directory stays 0700
            mounts += ["-v", f"{self.dir / name}:/etc/qs/{name}:ro"]
        self.run(
            [*mounts, "--user", "prometheus"],
            [
                "/usr/bin/prometheus",
                "--config.file=/etc/qs/prometheus.yml",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.path=/tmp/prometheus-data",
                *flags,
            ],
        )
        context = ssl._create_unverified_context() if self.tls else None  # noqa: S323 - readiness only
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2, context=context) as answer:  # noqa: S310
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if self.state() in ("exited", "stopped"):
                raise RuntimeError(f"Prometheus container {self.name} exited:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prometheus not ready after {timeout} s:\n{self.logs()}")
            time.sleep(0.3)
