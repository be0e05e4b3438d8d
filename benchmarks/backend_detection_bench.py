"""Detection-to-Telegram latency of the backend for a missed ping, against the real database.

Starts the tests' PostgreSQL + TimescaleDB container, the local HTTPS Telegram stand-in and the
service (real entry point, default evaluation interval unless ``--interval``). Each sample: one
ping for a fresh host with ``value`` = ``--overdue-minutes``, then silence; the latency is the
time from the moment the ping becomes overdue to the stand-in receiving the alert. The seed
checks every 5 minutes, so its figure is between 0 and 300 s by construction (not run here).

Run from the repository root as root:
  .venv/bin/python benchmarks/backend_detection_bench.py [--samples 3 --interval 30 --overdue-minutes 0.1]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".venv"), str(ROOT / "tests")]

import httpx  # noqa: E402
import psycopg  # noqa: E402
import yaml  # noqa: E402
from harness.backend_service import wait_healthy  # noqa: E402
from harness.telegram_standin import TelegramStandIn  # noqa: E402
from harness.timescaledb import TimescaleDB, free_tcp_port  # noqa: E402

from ansible_collections.quadstats.stack.services.backend.auth import token_hash  # noqa: E402

TOKEN = "bench-token-" + "y" * 20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--interval", type=float, default=30.0, help="alerts.evaluation_interval_seconds")
    parser.add_argument("--overdue-minutes", type=float, default=0.1)
    args = parser.parse_args()
    db, standin = TimescaleDB().start(), TelegramStandIn().start()
    workdir = Path(tempfile.mkdtemp(prefix="qs-backend-bench-"))
    proc = None
    try:
        with psycopg.connect(db.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        (workdir / "pw").write_text(db.password)
        (workdir / "bot").write_text("1:bench")
        for name in ("pw", "bot"):
            (workdir / name).chmod(0o600)
        port = free_tcp_port()
        settings = {
            "database": {"host": db.host, "port": db.port, "dbname": "bench", "user": "postgres",
                         "password_file": str(workdir / "pw"), "sslmode": "disable"},
            "listen": {"host": "127.0.0.1", "port": port},
            "alerts": {"evaluation_interval_seconds": args.interval},
            "telegram": {"enabled": True, "api_base_url": standin.base_url, "ca_file": str(standin.ca_file),
                         "token_file": str(workdir / "bot"), "chat_id": "1", "poll_interval_seconds": 1},
            "log_level": "warning",
        }  # fmt: skip
        (workdir / "backend.yml").write_text(yaml.safe_dump(settings))
        env = {**os.environ, "PYTHONPATH": str(ROOT / ".venv")}
        module = "ansible_collections.quadstats.stack.services.backend"
        proc = subprocess.Popen([sys.executable, "-m", module, "--config", str(workdir / "backend.yml")], env=env)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base)
        with psycopg.connect(db.dsn("bench"), autocommit=True) as conn:
            conn.execute("INSERT INTO ingest_tokens (token_sha256, host) VALUES (%s, '*')", (token_hash(TOKEN),))
        latencies = measure(base, standin, args)
        print(f"missed ping -> Telegram stand-in, evaluation every {args.interval:g} s, {args.samples} samples:")
        print("  latency s  " + "  ".join(f"{x:.1f}" for x in latencies))
        print(f"  min {min(latencies):.1f}  median {statistics.median(latencies):.1f}  max {max(latencies):.1f}")
        print("  seed (check every 5 min): 0-300 s by construction")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        standin.stop()
        db.stop()
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()


def measure(base, standin, args):
    """One latency per sample; a random pause first, so samples do not lock to the evaluation phase."""
    latencies = []
    rng = random.Random(7)  # noqa: S311 - timing jitter, not security
    for sample in range(args.samples):
        time.sleep(rng.uniform(0, args.interval))
        host = f"bench{sample}"
        body = {"host": host, "name": "host", "type": "ping", "value": str(args.overdue_minutes)}
        httpx.post(f"{base}/metric", json=body, headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()
        overdue_at = time.time() + args.overdue_minutes * 60
        while not any(host in (r["json"] or {}).get("text", "") for r in standin.requests):
            if time.time() > overdue_at + 3 * args.interval + 30:
                raise RuntimeError(f"no alert for {host}")
            time.sleep(0.05)
        latencies.append(time.time() - overdue_at)
    return latencies


if __name__ == "__main__":
    main()
