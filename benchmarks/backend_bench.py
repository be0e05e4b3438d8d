"""Backend ingest benchmarks, side by side in one run, against a real PostgreSQL 17 + TimescaleDB.

1. Journal ingest through HTTP (Loki push, snappy protobuf, batches of ``--batch`` entries, one
   client) versus a bare ``COPY`` of the same rows into the same hypertable (psycopg, one
   connection, the same batches). Both into an empty ``journal``; rows/s and the ratio.
2. ``POST /metric`` at a fixed rate (open loop: requests start on schedule whether or not earlier
   ones finished), latency percentiles.

The service runs as its real entry point (``python -m …services.backend``, uvicorn, one process);
the database is the tests' container (``tests/harness/timescaledb.py``), fsync off.

Run from the repository root as root:
  .venv/bin/python benchmarks/backend_bench.py [--rows 50000 --batch 1000 --rate 200 --seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".venv"), str(ROOT / "tests")]

import httpx  # noqa: E402
import psycopg  # noqa: E402
import snappy  # noqa: E402
import yaml  # noqa: E402
from harness.backend_service import wait_healthy  # noqa: E402
from harness.timescaledb import TimescaleDB, free_tcp_port  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from ansible_collections.quadstats.stack.services.backend.auth import token_hash  # noqa: E402
from ansible_collections.quadstats.stack.services.backend.ingest import proto  # noqa: E402
from ansible_collections.quadstats.stack.services.backend.ingest.journal import COLUMNS  # noqa: E402

T0 = datetime(2026, 11, 30, tzinfo=UTC)
TOKEN = "bench-token-" + "x" * 20


def lines(n):
    return [
        f"2026-11-30 app[{i}]: request {i} served in {i % 97} ms status=200 path=/api/item/{i % 1000}" for i in range(n)
    ]


def push_bodies(all_lines, batch):
    msgs = proto.messages(lenient=False)
    bodies = []
    for start in range(0, len(all_lines), batch):
        request = msgs["PushRequest"]()
        stream = request.streams.add(labels='{host="bench", unit="app.service", job="loki.source.journal"}')
        for i, line in enumerate(all_lines[start : start + batch], start):
            entry = stream.entries.add(line=line)
            entry.timestamp.seconds, entry.timestamp.nanos = int(T0.timestamp()) + i // 1000, (i % 1000) * 1000
        bodies.append(snappy.compress(request.SerializeToString()))
    return bodies


def copy_rows(all_lines):
    """The rows the service would store for the same entries (same columns, same jsonb shape)."""
    labels = {"host": "bench", "unit": "app.service", "job": "loki.source.journal"}
    rows = []
    for i, line in enumerate(all_lines):
        when = T0 + timedelta(seconds=i // 1000, microseconds=i % 1000)
        digest = hashlib.sha256(f"{i}\n{line}".encode()).digest()
        rows.append(
            (
                when,
                digest,
                "bench",
                "app.service",
                None,
                None,
                line,
                "loki",
                Jsonb({"labels": labels, "timestamp_ns": str(i)}),
            )
        )
    return rows


def start_service(db, dbname, port, workdir):
    pw = workdir / "pw"
    pw.write_text(db.password)
    pw.chmod(0o600)
    cfg = workdir / "backend.yml"
    settings = {
        "database": {"host": db.host, "port": db.port, "dbname": dbname, "user": "postgres", "password_file": str(pw),
                     "sslmode": "disable", "pool_max_size": 10},
        "listen": {"host": "127.0.0.1", "port": port},
        "ingest": {"max_batch_items": 100_000},
        "log_level": "warning",
    }  # fmt: skip
    cfg.write_text(yaml.safe_dump(settings))
    env = {**os.environ, "PYTHONPATH": str(ROOT / ".venv")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ansible_collections.quadstats.stack.services.backend", "--config", str(cfg)], env=env
    )
    wait_healthy(f"http://127.0.0.1:{port}", alive=lambda: None if proc.poll() is None else "exited")
    return proc


def bench_journal(db, dbname, base, rows, batch):
    all_lines = lines(rows)
    bodies = push_bodies(all_lines, batch)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-protobuf"}
    with psycopg.connect(db.dsn(dbname), autocommit=True) as conn:
        conn.execute("TRUNCATE journal")
    with httpx.Client(timeout=60) as client:
        start = time.perf_counter()
        for body in bodies:
            answer = client.post(f"{base}/loki/api/v1/push", content=body, headers=headers)
            answer.raise_for_status()
        http_s = time.perf_counter() - start
    with psycopg.connect(db.dsn(dbname), autocommit=True) as conn:
        stored = conn.execute("SELECT count(*) FROM journal").fetchone()[0]
        if stored != rows:
            raise RuntimeError(f"HTTP ingest stored {stored} of {rows} rows")
        conn.execute("TRUNCATE journal")
        data = copy_rows(all_lines)
        start = time.perf_counter()
        for i in range(0, len(data), batch):
            with conn.transaction(), conn.cursor().copy(f"COPY journal ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in data[i : i + batch]:
                    copy.write_row(row)
        copy_s = time.perf_counter() - start
        if conn.execute("SELECT count(*) FROM journal").fetchone()[0] != rows:
            raise RuntimeError("COPY did not store every row")
    return rows / http_s, rows / copy_s


async def bench_metric(base, rate, seconds):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    latencies = []
    failures = 0
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=100)) as client:

        async def one(i):
            nonlocal failures
            body = {"host": "bench", "name": f"/fs{i % 50}", "type": "disk", "value": str(i % 100)}
            start = time.perf_counter()
            try:
                answer = await client.post(f"{base}/metric", json=body, headers=headers)
            except httpx.TransportError:
                failures += 1
                return
            latencies.append(time.perf_counter() - start)
            failures += answer.status_code != 200

        await one(-1)  # warm-up: connection and first query
        latencies.clear()
        tasks = []
        begin = time.perf_counter()
        for i in range(rate * seconds):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        achieved = len(tasks) / (time.perf_counter() - begin)
    q = statistics.quantiles(latencies, n=100, method="inclusive")  # never beyond the observed max
    return {
        "sent": len(latencies),
        "achieved_rate": achieved,
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "max": max(latencies),
        "failures": failures,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    db = TimescaleDB().start()
    workdir = Path(tempfile.mkdtemp(prefix="qs-backend-bench-"))
    proc = None
    try:
        with psycopg.connect(db.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        port = free_tcp_port()
        proc = start_service(db, "bench", port, workdir)
        with psycopg.connect(db.dsn("bench"), autocommit=True) as conn:
            conn.execute("INSERT INTO ingest_tokens (token_sha256, host) VALUES (%s, '*')", (token_hash(TOKEN),))
        base = f"http://127.0.0.1:{port}"
        http_rate, copy_rate = bench_journal(db, "bench", base, args.rows, args.batch)
        metric = asyncio.run(bench_metric(base, args.rate, args.seconds))
        load = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, load average {load:.1f}")
        print(f"journal ingest, {args.rows} rows in batches of {args.batch}:")
        print(f"  HTTP Loki push (snappy protobuf) : {http_rate:10.0f} rows/s")
        print(f"  bare COPY, same rows and batches : {copy_rate:10.0f} rows/s")
        print(f"  ratio HTTP / COPY                : {http_rate / copy_rate:10.2%}")
        print(
            f"POST /metric at {args.rate}/s for {args.seconds} s (open loop): answered {metric['sent']},"
            f" achieved {metric['achieved_rate']:.0f}/s, failures {metric['failures']}"
        )
        ms = {k: metric[k] * 1000 for k in ("p50", "p95", "p99", "max")}
        print(f"  latency ms  p50 {ms['p50']:.2f}  p95 {ms['p95']:.2f}  p99 {ms['p99']:.2f}  max {ms['max']:.2f}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        db.stop()
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
