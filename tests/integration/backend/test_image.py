"""The backend in the one services image (services/Containerfile, built for real by harness.services_image).

This is where Debian trixie's Python 3.13, pydantic 2.10, protobuf 3.21 and python-snappy 0.5 run
the service, not the dev venv's versions.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import snappy
import yaml

from ansible_collections.quadstats.stack.services.backend.ingest import proto
from harness.backend_service import wait_healthy
from harness.backend_testing import bearer
from harness.services_image import build_services_image
from harness.trixie_container import TrixieContainer, free_tcp_port

REPO = Path(__file__).resolve().parents[3]
IMAGE_UID = 10001  # services/Containerfile's ARG UID
pytestmark = pytest.mark.slow


@pytest.fixture
def image_service(settings_data, tmp_path):
    port = free_tcp_port()
    box = TrixieContainer(None, build_services_image(), "qs-backend-svc-")
    secret = box.dir / "db-password"
    secret.write_text(Path(settings_data["database"]["password_file"]).read_text())
    secret.chmod(0o600)
    os.chown(secret, IMAGE_UID, IMAGE_UID)
    config = {**settings_data, "listen": {"host": "127.0.0.1", "port": port}}
    config["database"] = {**config["database"], "password_file": "/run/secrets/db-password"}
    try:  # from here on, stop() removes whatever exists
        (box.dir / "backend.yml").write_text(yaml.safe_dump(config))
        (box.dir / "backend.yml").chmod(0o644)
        box.dir.chmod(0o755)  # the image's user reads the mounted files
        box.run(
            [
                "-v",
                f"{box.dir / 'backend.yml'}:/etc/quadstats/backend.yml:ro",
                "-v",
                f"{secret}:/run/secrets/db-password:ro",
            ],
            [
                "python3",
                "-m",
                "ansible_collections.quadstats.stack.services.backend",
                "--config",
                "/etc/quadstats/backend.yml",
            ],
        )
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, alive=lambda: None if box.state() == "running" else box.logs())
        yield box, base
    finally:
        box.stop()


def test_service_runs_on_trixie_packages(image_service, make_token, query):
    box, base = image_service
    script = "import sys, pydantic, fastapi; print(sys.version.split()[0], pydantic.VERSION, fastapi.__version__)"
    versions = box.podman("exec", box.name, "python3", "-c", script).stdout.split()
    assert versions[0].startswith("3.13")
    assert versions[1].startswith("2.10")  # not the dev venv's pydantic
    token = make_token("*")
    sent = httpx.post(
        f"{base}/metric", json={"host": "web1", "name": "/", "type": "disk", "value": 91}, headers=bearer(token)
    )
    assert sent.status_code == 200, sent.text
    bad = httpx.post(f"{base}/metric", json={"host": "web1", "type": "cpu"}, headers=bearer(token))
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"name", "type"}
    request = proto.messages(lenient=False)["PushRequest"]()
    entry = request.streams.add(labels='{host="web1"}').entries.add(line="from alloy")
    entry.timestamp.seconds = 1_764_500_000
    pushed = httpx.post(
        f"{base}/loki/api/v1/push",
        content=snappy.compress(request.SerializeToString()),
        headers={**bearer(token), "Content-Type": "application/x-protobuf"},
    )
    assert pushed.status_code == 204, pushed.text
    assert query("SELECT value FROM metrics") == [("91",)]
    assert query("SELECT message FROM journal") == [("from alloy",)]
