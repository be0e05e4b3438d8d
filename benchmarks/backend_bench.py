"""Backend benchmarks, side by side in one run, against a real PostgreSQL 17 + TimescaleDB.

1. Journal ingest through HTTP (Loki push, snappy protobuf, batches of ``--batch`` entries, one
   client) versus a bare ``COPY`` of the same rows into the same hypertable (one connection, the
   same batches, the rows already in COPY's text format: only the database's work is timed).
   ``--runs`` pairs (the order alternates); rows/s, each ratio and the median.
2. ``POST /metric`` at a fixed rate from an open-loop generator in its own process (keep-alive
   connections, latency measured from each request's *scheduled* send time, so a stalled server
   cannot hide its queue: no coordinated omission), with the CPU each side spent per request and the
   service's own latency histogram (time inside the service) beside it.
3. Journal pages over ``--page-rows`` generated rows (generate_series: 50 hosts, 40 units,
   containers, priorities, message templates, 7 days): the filters the query API serves, through
   ``GET /api/v1/journal``; p50/p95 per page, with and without migration 7's indexes.

The service runs as its real entry point (``python -m …services.backend``, uvicorn, one process),
from the dev venv or (``--server image``) inside the services image as deployed; the database is
the tests' container (``tests/harness/timescaledb.py``), fsync off.

Run from the repository root as root:
  .venv/bin/python benchmarks/backend_bench.py [--parts journal,metric,page] [--rows 50000 --batch 1000
      --runs 5] [--rate 200 --seconds 10] [--page-rows 1000000 --page-repeats 20] [--server venv|image]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime
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

from ansible_collections.quadstats.stack.services.backend.auth import Principal, token_hash  # noqa: E402
from ansible_collections.quadstats.stack.services.backend.http import snappy_decode  # noqa: E402
from ansible_collections.quadstats.stack.services.backend.ingest import loki, proto  # noqa: E402
from ansible_collections.quadstats.stack.services.backend.ingest.journal import COLUMNS, copy_text  # noqa: E402

T0 = datetime(2026, 11, 30, tzinfo=UTC)
TOKEN = "bench-token-" + "x" * 20
IMAGE_UID = 10001  # services/Containerfile's ARG UID


# ---------------------------------------------------------------- journal ingest


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


def service_rows(bodies):
    """The rows the service stores for ``bodies``, per batch: (text for COPY, tuples for write_row)."""
    who = Principal("*")
    decoded = [loki.rows_from_protobuf(snappy_decode(b, 1 << 30), who, 1 << 30) for b in bodies]
    tuples = [[(*r[:-1], Jsonb(json.loads(r.fields))) for r in batch] for batch in decoded]
    return [copy_text(batch) for batch in decoded], tuples


def journal_pair(dsn, base, bodies, data, *, rows, copy_first, server_pid):
    batches, row_batches, batch_size = data
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-protobuf"}
    copy_sql = f"COPY journal ({', '.join(COLUMNS)}) FROM STDIN"

    def via_http():
        with httpx.Client(timeout=60) as client:
            client.get(f"{base}/healthz")  # connection open before the clock starts
            start, cpu0 = time.perf_counter(), process_cpu(server_pid)
            for body in bodies:
                client.post(f"{base}/loki/api/v1/push", content=body, headers=headers).raise_for_status()
            out["service_cpu"] = process_cpu(server_pid) - cpu0
            return time.perf_counter() - start

    def via_copy():
        with psycopg.connect(dsn, autocommit=True) as conn:
            start = time.perf_counter()
            for text in batches:
                with conn.transaction(), conn.cursor().copy(copy_sql) as copy:
                    copy.write(text)
            return time.perf_counter() - start

    def via_copy_rows():  # the same rows as Python values, psycopg adapting each one
        data = [row for batch in row_batches for row in batch]
        with psycopg.connect(dsn, autocommit=True) as conn:
            start = time.perf_counter()
            for i in range(0, len(data), batch_size):
                with conn.transaction(), conn.cursor().copy(copy_sql) as copy:
                    for row in data[i : i + batch_size]:
                        copy.write_row(row)
            return time.perf_counter() - start

    out = {}
    runs = [("http", via_http), ("copy", via_copy), ("copy_rows", via_copy_rows)]
    for name, run in runs[::-1] if copy_first else runs:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("TRUNCATE journal")
        out[name] = rows / run()
        with psycopg.connect(dsn, autocommit=True) as conn:
            stored = conn.execute("SELECT count(*) FROM journal").fetchone()[0]
        if stored != rows:
            raise RuntimeError(f"{name} stored {stored} of {rows} rows")
    return out


def bench_journal(dsn, base, *, rows, batch, runs, server_pid):
    bodies = push_bodies(lines(rows), batch)
    batches, row_batches = service_rows(bodies)
    results = [
        journal_pair(
            dsn, base, bodies, (batches, row_batches, batch), rows=rows, copy_first=bool(i % 2), server_pid=server_pid
        )
        for i in range(runs)
    ]
    print(f"journal ingest, {rows} rows in batches of {batch}, {runs} runs (rows/s; order alternates):")
    print("  HTTP = Loki push, snappy protobuf; COPY = bare COPY of the rows in text form (database work only);")
    print("  COPY rows = bare COPY of the same rows as Python values through psycopg's write_row")
    for i, r in enumerate(results, 1):
        print(
            f"  run {i}: HTTP {r['http']:8.0f}  COPY {r['copy']:8.0f}  COPY rows {r['copy_rows']:8.0f}"
            f"  HTTP/COPY {r['http'] / r['copy']:6.1%}  HTTP/COPY rows {r['http'] / r['copy_rows']:6.1%}"
            f"  service CPU {r['service_cpu'] / rows * 1e6:5.1f} us/row"
        )
    for key, label in (("copy", "COPY"), ("copy_rows", "COPY rows")):
        ratios = [r["http"] / r[key] for r in results]
        print(
            f"  median HTTP / {label}: {statistics.median(ratios):.1%} (min {min(ratios):.1%}, max {max(ratios):.1%})"
        )


# ---------------------------------------------------------------- POST /metric, open loop

IDLE_MAX = 3.0  # drop keep-alive connections idle this long (uvicorn closes them after 5 s)


async def open_loop(host, port, requests, rate, seconds):
    """Send ``requests`` round-robin at ``rate``/s on schedule; latencies from the scheduled time."""
    idle = deque()  # (reader, writer, idle since), the most recently used on the right
    opened = 0
    latencies, lags, statuses = [], [], {}

    async def connection():
        nonlocal opened
        now = time.perf_counter()
        while idle and now - idle[0][2] > IDLE_MAX:
            idle.popleft()[1].close()
        if idle:
            return idle.pop()[:2]
        opened += 1
        return await asyncio.open_connection(host, port)

    async def one(i, due):
        reader, writer = await connection()
        lags.append(time.perf_counter() - due)
        writer.write(requests[i % len(requests)])
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - due)
        statuses[head[9:12].decode()] = statuses.get(head[9:12].decode(), 0) + 1
        idle.append((reader, writer, time.perf_counter()))

    await one(0, time.perf_counter())  # warm-up: a connection and the first query
    latencies.clear(), lags.clear(), statuses.clear()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    tasks = []
    begin = time.perf_counter() + 0.05
    for i in range(int(rate * seconds)):
        due = begin + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"latencies": latencies, "lags": lags, "statuses": statuses, "connections": opened,
            "elapsed": elapsed, "cpu": usage.ru_utime + usage.ru_stime - cpu0}  # fmt: skip


def loadgen_main():
    """``backend_bench.py --loadgen``: the generator's own process (JSON job on stdin, results on stdout)."""
    job = json.loads(sys.stdin.read())
    requests = [r.encode("latin-1") for r in job["requests"]]
    print(json.dumps(asyncio.run(open_loop(job["host"], job["port"], requests, job["rate"], job["seconds"]))))


def process_cpu(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_histogram(base):
    """``{upper bound: count}`` of the service's own ``POST /metric`` latency histogram."""
    buckets = {}
    for line in httpx.get(f"{base}/metrics", timeout=30).text.splitlines():
        if line.startswith("quadstats_backend_http_request_duration_seconds_bucket") and 'route="/metric"' in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def quantile_bucket(before, after, q):
    total = after[float("inf")] - before.get(float("inf"), 0)
    for bound in sorted(after):
        if after[bound] - before.get(bound, 0) >= q * total:
            return bound
    return float("inf")


def bench_metric(base, port, server_pid, *, rate, seconds, floor):
    requests = []
    for i in range(50):
        body = json.dumps({"host": "bench", "name": f"/fs{i}", "type": "disk", "value": str(i)})
        requests.append(
            f"POST /metric HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        )

    def drive(port, pid):
        job = {"host": "127.0.0.1", "port": port, "requests": requests, "rate": rate, "seconds": seconds}
        cpu0 = process_cpu(pid)
        done = subprocess.run(
            [sys.executable, __file__, "--loadgen"], input=json.dumps(job), capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout), process_cpu(pid) - cpu0

    def pct(values, p):
        return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000

    before = server_histogram(base)
    got, service_cpu = drive(port, server_pid)
    after = server_histogram(base)
    lat, lag, n = got["latencies"], got["lags"], len(got["latencies"])

    print(
        f"POST /metric at {rate}/s for {seconds} s, open loop from its own process: {n} answered"
        f" ({got['statuses']}), achieved {n / got['elapsed']:.0f}/s over {got['connections']} keep-alive connections"
    )
    print(
        f"  latency from the scheduled send, ms: p50 {pct(lat, 50):.2f}  p95 {pct(lat, 95):.2f}"
        f"  p99 {pct(lat, 99):.2f}  max {max(lat) * 1000:.2f}"
    )
    print(
        f"  inside the service (its histogram): p99 <= {quantile_bucket(before, after, 0.99) * 1000:g} ms,"
        f" p50 <= {quantile_bucket(before, after, 0.5) * 1000:g} ms"
    )
    print(
        f"  CPU per request: service {service_cpu / n * 1000:.2f} ms, generator {got['cpu'] / n * 1000:.2f} ms;"
        f" generator late to send: p99 {pct(lag, 99):.2f} ms, max {max(lag) * 1000:.2f} ms"
    )
    floor_port = free_tcp_port()
    floor_pid, stop_floor = floor(floor_port)
    try:
        got, floor_cpu = drive(floor_port, floor_pid)
    finally:
        stop_floor()
    lat, m = got["latencies"], len(got["latencies"])
    print(
        f"  floor, uvicorn answering at once (same generator and rate): latency ms p50 {pct(lat, 50):.2f}"
        f"  p99 {pct(lat, 99):.2f}; CPU per request {floor_cpu / m * 1000:.2f} ms"
    )


# ---------------------------------------------------------------- journal pages over many rows

UNITS = [f"{name}.service" for name in (
    "sshd", "cron", "nginx", "postgresql@17-main", "systemd-journald", "systemd-logind", "dbus", "chrony", "podman",
    "quadstats-backend", "alloy", "containerd", "docker", "rsyslog", "unattended-upgrades", "apt-daily", "polkit",
    "NetworkManager", "systemd-networkd", "systemd-resolved", "systemd-timesyncd", "user@1000", "getty@tty1", "atd",
    "smartd", "zfs-zed", "lvm2-monitor", "multipathd", "snapd", "packagekit", "ufw", "fail2ban", "auditd", "haproxy",
    "redis-server", "rabbitmq-server", "grafana-server", "prometheus", "node-exporter", "kubelet")]  # fmt: skip
TEMPLATES = [
    "Accepted publickey for deploy from 10.0.%s.17 port 52144 ssh2: ED25519 SHA256:a1b2c3",
    "pam_unix(cron:session): session opened for user root(uid=0) by root(uid=%s)",
    'GET /api/item/%s HTTP/1.1" 200 512 "-" "curl/8.5.0"',
    "Started Daily apt upgrade and clean activities (run %s).",
    "checkpoint complete: wrote %s buffers (0.1%%); 0 WAL file(s) added",
    "error: connection to db:5432 refused (attempt %s)",
    "Out of memory: Killed process %s (java) total-vm:8123456kB",
    "container health_status=healthy exec_id=%s",
]
# Independent draws from the row's hash bytes: host (50), unit (40), container (10 % of rows), priority
# (crit 0.1 %, err 2 %, warning 9 %, notice 27 %, info the rest), template ("Killed process" 0.1 %).
GENERATE = """
INSERT INTO journal (time, hash, host, unit, container, priority, message, source, fields)
SELECT %(end)s - i * (interval '7 days' / %(rows)s), h,
       'host' || lpad((get_byte(h, 0) %% 50)::text, 2, '0'),
       (%(units)s::text[])[1 + get_byte(h, 1) %% 40],
       CASE WHEN get_byte(h, 2) < 26 THEN 'app' || (get_byte(h, 3) %% 7) END,
       CASE WHEN v < 66 THEN 2 WHEN v < 1400 THEN 3 WHEN v < 7300 THEN 4 WHEN v < 25000 THEN 5 ELSE 6 END,
       format((%(templates)s::text[])[CASE WHEN w < 66 THEN 7 ELSE (ARRAY[1, 2, 3, 4, 5, 6, 8])[1 + w %% 7] END],
              i %% 250),
       'journal', '{}'
FROM (SELECT i, h, get_byte(h, 4) * 256 + get_byte(h, 5) AS v, get_byte(h, 6) * 256 + get_byte(h, 7) AS w
      FROM (SELECT i, sha256(int8send(i)) AS h FROM generate_series(1::bigint, %(rows)s::bigint) AS i) AS draws
     ) AS rows
"""


def page_queries(day_end):
    """(label, query parameters) of the pages measured: the filters the query API offers."""
    yesterday = (day_end.replace(hour=0) - (day_end - day_end)).isoformat()
    return [
        ("newest, no filter", {}),
        ("host + unit, newest", {"host": "host07", "unit": "nginx.service"}),
        ("host + unit, oldest", {"host": "host07", "unit": "nginx.service", "order": "oldest"}),
        (
            "host + unit + time range (1 day)",
            {"host": "host07", "unit": "nginx.service", "start": yesterday, "end": day_end.isoformat()},
        ),
        ("container, newest", {"container": "app3"}),
        ("priority <= 2 (0.1 %), newest", {"priority": 2}),
        ("priority <= 3, host, oldest", {"priority": 3, "host": "host11", "order": "oldest"}),
        ("message 'session opened' (common)", {"message": "session opened"}),
        ("message 'Killed process' (0.1 %)", {"message": "Killed process"}),
        ("message absent (full search)", {"message": "no such text anywhere"}),
        ("host + message '0.1%)' (escaped %)", {"host": "host03", "message": "0.1%)"}),
        ("host + unit + message 'ssh2'", {"host": "host07", "unit": "sshd.service", "message": "ssh2"}),
        ("priority <= 3 + message 'health_status'", {"priority": 3, "message": "health_status"}),
    ]  # fmt: skip


def measure_pages(base, day_end, repeats):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    out = {}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:

        def timed(params):
            start = time.perf_counter()
            answer = client.get("/api/v1/journal", params=params)
            answer.raise_for_status()
            return time.perf_counter() - start, answer.json()

        for label, params in page_queries(day_end):
            times = [timed({**params, "limit": 100})[0] for _repeat in range(repeats)]
            out[label] = times
        for order in ("newest", "oldest"):  # keyset: follow `next` 20 pages deep, time each page
            params = {"host": "host07", "order": order, "limit": 100}
            times = []
            for _repeat in range(max(1, repeats // 5)):
                cursor = None
                for _page in range(20):
                    took, page = timed({**params, **({"cursor": cursor} if cursor else {})})
                    times.append(took)
                    cursor = page["next"]
            out[f"host, {order}: next pages 1-20 (keyset)"] = times
    return out


V7_INDEXES = "journal\\_v7\\_%"  # migration 7's indexes, dropped for the comparison


def bench_pages(dsn, base, rows, repeats):
    with psycopg.connect(dsn, autocommit=True) as conn:
        v7 = [r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", (V7_INDEXES,))]
        definitions = [r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = ANY(%s)", (v7,))]
        for name in v7:  # built once after the rows: far faster than updating a trigram index row by row
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("TRUNCATE journal")
        start = time.perf_counter()
        conn.execute(GENERATE, {"end": T0, "rows": rows, "units": UNITS, "templates": TEMPLATES})
        conn.execute("ANALYZE journal")
        generated = time.perf_counter() - start
    print(f"journal pages over {rows} rows (generated with generate_series in {generated:.1f} s), limit 100,"
          f" {repeats} repeats, ms through GET /api/v1/journal:")  # fmt: skip
    without = measure_pages(base, T0, max(3, repeats // 4))  # seconds per page without them: fewer repeats
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = time.perf_counter()
        for definition in definitions:
            conn.execute(definition)
        conn.execute("ANALYZE journal")
        print(f"  migration 7's {len(definitions)} indexes built in {time.perf_counter() - start:.1f} s")
    with_indexes = measure_pages(base, T0, repeats)

    def p(values, q):
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000

    print(f"  {'':44} {'with migration 7':>17}   {'without its indexes':>19}")
    print(f"  {'page':44} {'p50':>8} {'p95':>8}   {'p50':>9} {'p95':>9}")
    for label, times in with_indexes.items():
        other = without[label]
        print(f"  {label:44} {p(times, 50):8.1f} {p(times, 95):8.1f}   {p(other, 50):9.1f} {p(other, 95):9.1f}")
    worst = max(p(times, 95) for times in with_indexes.values())
    print(f"  worst p95: {worst:.1f} ms (goal < 100 ms)")


# ---------------------------------------------------------------- the service


def write_config(db, dbname, port, workdir, password_path):
    pw = workdir / "pw"
    pw.write_text(db.password)
    pw.chmod(0o600)
    settings = {
        "database": {"host": db.host, "port": db.port, "dbname": dbname, "user": "postgres",
                     "password_file": password_path or str(pw), "sslmode": "disable", "pool_max_size": 10},
        "listen": {"host": "127.0.0.1", "port": port},
        "ingest": {"max_batch_items": 100_000},
        "log_level": "warning",
    }  # fmt: skip
    (workdir / "backend.yml").write_text(yaml.safe_dump(settings))
    return workdir / "backend.yml", pw


# The floor: uvicorn as the service runs it, answering every request with a fixed JSON body at once
# (no routing, validation, authentication or database). What the HTTP layer alone costs.
FLOOR_APP = """
import sys, uvicorn
BODY = b'{"accepted":1}'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"14")]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, server_header=False)
"""


def wait_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing answers on port {port}")


class VenvService:
    def __init__(self, db, dbname, port, workdir):
        cfg, _pw = write_config(db, dbname, port, workdir, None)
        env = {**os.environ, "PYTHONPATH": str(ROOT / ".venv")}
        module = "ansible_collections.quadstats.stack.services.backend"
        self.proc = subprocess.Popen([sys.executable, "-m", module, "--config", str(cfg)], env=env)
        self.pid = self.proc.pid
        wait_healthy(f"http://127.0.0.1:{port}", alive=lambda: None if self.proc.poll() is None else "exited")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)

    @staticmethod
    def floor(port):
        """Start the floor app like the service (the dev venv's Python); returns (pid, stop)."""
        proc = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port)])
        wait_port(port)
        return proc.pid, lambda: (proc.terminate(), proc.wait(timeout=30))


class ImageService:
    """The service inside the services image (trixie's Python, uvicorn, uvloop, psycopg), host network."""

    def __init__(self, db, dbname, port, workdir):
        from harness.services_image import build_services_image  # noqa: PLC0415
        from harness.trixie_container import TrixieContainer  # noqa: PLC0415

        self.box = TrixieContainer(None, build_services_image(), "qs-backend-bench-")
        cfg, pw = write_config(db, dbname, port, self.box.dir, "/run/secrets/db-password")
        for path in (cfg, pw):
            os.chown(path, IMAGE_UID, IMAGE_UID)
        self.box.dir.chmod(0o755)
        module = "ansible_collections.quadstats.stack.services.backend"
        self.box.run(
            ["-v", f"{cfg}:/etc/quadstats/backend.yml:ro", "-v", f"{pw}:/run/secrets/db-password:ro"],
            ["python3", "-m", module, "--config", "/etc/quadstats/backend.yml"],
        )
        wait_healthy(f"http://127.0.0.1:{port}", alive=lambda: None if self.box.state() == "running" else "exited")
        self.pid = int(self.box.podman("inspect", "-f", "{{.State.Pid}}", self.box.name).stdout.strip())

    def stop(self):
        self.box.stop()

    def floor(self, port):
        """The floor app in the same image (trixie's Python, uvicorn and uvloop); returns (pid, stop)."""
        from harness.trixie_container import TrixieContainer  # noqa: PLC0415

        box = TrixieContainer(None, self.box.image, "qs-backend-floor-")
        box.run([], ["python3", "-c", FLOOR_APP, str(port)])
        wait_port(port)
        return int(box.podman("inspect", "-f", "{{.State.Pid}}", box.name).stdout.strip()), box.stop


def main():
    if "--loadgen" in sys.argv:
        loadgen_main()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="journal,metric,page", help="comma-separated: journal, metric, page")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--page-rows", type=int, default=1_000_000)
    parser.add_argument("--page-repeats", type=int, default=20)
    parser.add_argument("--server", choices=("venv", "image"), default="venv")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    db = TimescaleDB().start()
    workdir = Path(tempfile.mkdtemp(prefix="qs-backend-bench-"))
    service = None
    try:
        with psycopg.connect(db.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        port = free_tcp_port()
        service = (ImageService if args.server == "image" else VenvService)(db, "bench", port, workdir)
        with psycopg.connect(db.dsn("bench"), autocommit=True) as conn:
            conn.execute("INSERT INTO ingest_tokens (token_sha256, host) VALUES (%s, '*')", (token_hash(TOKEN),))
        base = f"http://127.0.0.1:{port}"
        print(
            f"machine: {os.cpu_count()} cores, bench Python {platform.python_version()}, service from {args.server},"
            f" load average {os.getloadavg()[0]:.1f} at start"
        )
        if "journal" in parts:
            bench_journal(
                db.dsn("bench"), base, rows=args.rows, batch=args.batch, runs=args.runs, server_pid=service.pid
            )
        if "metric" in parts:
            bench_metric(base, port, service.pid, rate=args.rate, seconds=args.seconds, floor=service.floor)
        if "page" in parts:
            bench_pages(db.dsn("bench"), base, args.page_rows, args.page_repeats)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        if service is not None:
            service.stop()
        db.stop()
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
