"""Real service processes: two replicas send every notification once; a killed service and a restarted
database neither lose nor repeat one. Telegram is the local HTTPS stand-in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.timescaledb import free_tcp_port

REPO = Path(__file__).resolve().parents[3]
MODULE = "ansible_collections.quadstats.stack.services.backend"
pytestmark = pytest.mark.slow


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.2)
    return value


class Replica:
    def __init__(self, config: Path, port: int):
        self.config, self.port = config, port
        env = {**os.environ, "PYTHONPATH": str(REPO / ".venv")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", MODULE, "--config", str(config)], env=env, stderr=subprocess.PIPE, text=True
        )
        self.base = f"http://127.0.0.1:{port}"

    def healthy(self):
        assert self.proc.poll() is None, self.proc.stderr.read()
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.communicate(timeout=30)[1]


@pytest.fixture
def service(settings_data, standin, tmp_path):
    """``start() -> Replica`` on its own port, and the ingest token (for any host)."""
    token_file = tmp_path / "bot-token"
    token_file.write_text("42:canary-bot-token\n")
    token_file.chmod(0o600)
    started = []

    def config(port):
        cfg = tmp_path / f"backend-{port}.yml"
        data = {
            **settings_data,
            "listen": {"host": "127.0.0.1", "port": port},
            "alerts": {"evaluation_interval_seconds": 1},
            "telegram": {
                "enabled": True,
                "api_base_url": standin.base_url,
                "ca_file": str(standin.ca_file),
                "token_file": str(token_file),
                "chat_id": "-1001",
                "timeout_seconds": 2,
                "poll_interval_seconds": 0.2,
                "max_attempts": 100,
            },
        }
        cfg.write_text(yaml.safe_dump(data))
        return cfg

    def start():
        port = free_tcp_port()
        replica = Replica(config(port), port)
        started.append(replica)  # before waiting: a replica that never gets healthy is stopped too
        wait_for(replica.healthy, what=f"replica on port {port}")
        return replica

    def token():
        env = {**os.environ, "PYTHONPATH": str(REPO / ".venv")}
        made = subprocess.run(
            [sys.executable, "-m", MODULE, "--config", str(config(free_tcp_port())), "token-add", "*"],
            env=env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return made.stdout.strip()

    start.token = token
    yield start
    errors = [replica.stop() for replica in started]  # stop every replica before judging any
    assert not any("canary-bot-token" in err for err in errors)


def report(replica, token, values):
    batch = [{"host": f"h{i}", "name": "/", "type": "disk", "value": str(v)} for i, v in enumerate(values)]
    answer = httpx.post(f"{replica.base}/metric", json=batch, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text


def delivered(standin):
    """Texts Telegram accepted, in order."""
    return [r["json"]["text"] for r in standin.requests if r["answer"] == "ok"]


def test_two_replicas_send_every_transition_once(service, standin, query):
    first, second = service(), service()
    token = service.token()
    report(first, token, [99] * 20)
    wait_for(lambda: len(delivered(standin)) >= 20, what="20 alerts delivered")
    report(second, token, [10] * 20)
    wait_for(lambda: len(delivered(standin)) >= 40, what="20 recoveries delivered")
    time.sleep(2)  # a few more rounds of both replicas: nothing more may arrive
    texts = delivered(standin)
    assert len(texts) == 40
    assert len(set(texts)) == 40
    assert query("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL") == [(40,)]
    assert query("SELECT count(*) FROM alert_events") == [(40,)]
    assert sum(telegram_sends(r, "ok") for r in (first, second)) == 40  # visible in their own /metrics


def telegram_sends(replica, outcome):
    text = httpx.get(f"{replica.base}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "quadstats_backend_telegram_sends_total" and s.labels["outcome"] == outcome:
                return s.value
    return 0


def test_killed_service_and_restarted_database_neither_lose_nor_repeat(service, standin, timescaledb, query):
    standin.script(["500"] * 10_000)  # Telegram down: notifications stay in the outbox
    replica = service()
    token = service.token()
    report(replica, token, [99] * 5)
    wait_for(lambda: query("SELECT count(*) FROM outbox")[0][0] == 5, what="5 outbox rows")
    replica.stop(signal.SIGKILL)
    timescaledb.restart()
    standin.script([])  # Telegram back
    replica = service()
    wait_for(lambda: len(delivered(standin)) >= 5, what="5 alerts delivered after restart")
    assert telegram_sends(replica, "ok") == 5
    # The running service survives a database restart, too.
    timescaledb.restart()
    wait_for(replica.healthy, what="healthy after the database restart")
    report(replica, token, [99] * 5 + [98])
    wait_for(lambda: len(delivered(standin)) >= 6, what="the sixth alert")
    time.sleep(2)
    texts = delivered(standin)
    assert sorted(texts) == sorted({f"<b>Alert:</b> h{i} - / Value: {98 if i == 5 else 99}" for i in range(6)})
    assert query("SELECT count(*) FROM alert_events") == [(6,)]
    assert query("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == [(0,)]
