"""Screenshots of every page at desktop (1280x800) and phone (390x844) widths into docs/screenshots/.

Run by scripts/screenshots.sh. It starts the test PostgreSQL + TimescaleDB, the backend as a real
process with web login, and the local Telegram stand-in, feeds realistic data through the real
ingest endpoints (metrics of five hosts, a quarter of an hour of journal lines), lets the backend's
own rounds raise and deliver the alerts, logs in as the local admin in headless Chromium and takes
full-page screenshots with the browser harness. Everything it starts is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness.backend_service import start_backend  # noqa: E402
from harness.browser import browser, login_local, screenshot  # noqa: E402
from harness.daemon import secret_file  # noqa: E402
from harness.telegram_standin import TelegramStandIn  # noqa: E402
from harness.timescaledb import TimescaleDB  # noqa: E402

from ansible_collections.quadstats.stack.services.backend.auth import add_token  # noqa: E402 - after the path set-up

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
VIEWER_ZONE = "Europe/Berlin"
PAGES = {
    "dashboard": "/",
    "host": "/hosts/db1",
    "journal": "/journal",
    "journal-filtered": "/journal?priority=4&limit=25",
    "silences": "/silences",
    "alerts": "/alerts",
}


def metrics(now: datetime) -> list[dict]:
    """Five hosts as the seed's metrics-sender and the exporters report them; three will alert."""

    def ago(minutes):
        return (now - timedelta(minutes=minutes)).isoformat()

    out = []
    for host, disks in (
        ("web1", {"/": 41, "/var/lib/containers": 63}),
        ("web2", {"/": 38, "/var/lib/containers": 57}),
        ("db1", {"/": 52, "/var/lib/postgresql": 93.4}),
        ("nas1", {"/": 22, "/ifs": 91.7}),
        ("backup1", {"/": 17, "/srv/backup": 96.5}),
    ):
        out.append({"host": host, "name": host, "type": "ping", "timestamp": ago(0.5)})
        out += [
            {"host": host, "name": n, "type": "disk", "value": str(v), "timestamp": ago(1)} for n, v in disks.items()
        ]
    for host, container in (("web1", "nginx"), ("web1", "app"), ("web2", "nginx"), ("db1", "postgres")):
        out.append({"host": host, "name": f"container {container}", "type": "ping", "timestamp": ago(0.5)})
    out.append({"host": "web2", "name": "container app", "type": "ping", "timestamp": ago(17)})  # stopped: alerts
    out.append({"host": "backup1", "name": "backup daily", "type": "ping", "value": "1440", "timestamp": ago(600)})
    out.append({"host": "nas1", "name": "container onefs-exporter", "type": "ping", "timestamp": ago(9)})
    return out


def journal_lines(now: datetime, count: int = 420) -> list[str]:
    """About a quarter of an hour of journal lines from several units and containers."""
    rnd = random.Random(13)  # noqa: S311 - made-up data, the same on every run
    kinds = [
        (
            "web1",
            "nginx",
            None,
            6,
            lambda: (
                f'192.0.2.{rnd.randint(2, 250)} - - "GET /api/v1/items/{rnd.randint(1, 999)} HTTP/1.1"'
                f" 200 {rnd.randint(200, 9000)}"
            ),
        ),
        (
            "web2",
            "nginx",
            None,
            6,
            lambda: f'198.51.100.{rnd.randint(2, 250)} - - "GET / HTTP/1.1" 200 {rnd.randint(600, 1200)}',
        ),
        (
            "web2",
            "nginx",
            None,
            3,
            lambda: (
                'upstream timed out (110: Connection timed out) while reading response header from upstream, upstream: "http://10.88.0.7:8000/"'
            ),
        ),
        (
            "web1",
            None,
            "sshd.service",
            6,
            lambda: (
                f"Accepted publickey for deploy from 203.0.113.{rnd.randint(2, 99)} port {rnd.randint(30000, 60000)}"
                " ssh2: ED25519 SHA256:Jk3q…"
            ),
        ),
        (
            "db1",
            "postgres",
            None,
            6,
            lambda: (
                f"checkpoint complete: wrote {rnd.randint(10, 900)} buffers ({rnd.random():.1f}%); 0 WAL file(s) added"
            ),
        ),
        (
            "db1",
            None,
            "systemd-journald.service",
            4,
            lambda: (
                "Data hash table of /var/log/journal/…/system.journal has a fill level at 75.0, suggesting rotation."
            ),
        ),
        (
            "backup1",
            None,
            "restic-backup.service",
            3,
            lambda: (
                "Fatal: unable to open repository at sftp:nas1:/ifs/backup:"
                " ssh: connect to host nas1 port 22: No route to host"
            ),
        ),
        ("web1", None, "podman-auto-update.service", 5, lambda: "Trying to pull localhost/quadstats-services:0.1.0..."),
        (
            "nas1",
            None,
            "quadstats-onefs-exporter.service",
            4,
            lambda: "cluster nas1: PAPI answered 503, next try in 30 s",
        ),
    ]
    weights = [30, 20, 3, 6, 10, 2, 2, 3, 3]
    lines = []
    for i in range(count):
        host, container, unit, priority, text = rnd.choices(kinds, weights)[0]
        when = now - timedelta(seconds=(count - i) * 14 * 60 / count)
        fields = {
            "__REALTIME_TIMESTAMP": str(int(when.timestamp() * 1_000_000)),
            "_HOSTNAME": host,
            "MESSAGE": text(),
            "PRIORITY": str(priority),
            "_SYSTEMD_UNIT": unit or f"libpod-{uuid.UUID(int=rnd.getrandbits(128)).hex[:12]}.scope",
            "_PID": str(rnd.randint(300, 90000)),
            "_BOOT_ID": "4f1c2a0e9b8d4d7c8a6e5f3b2c1d0e9f",
            "SYSLOG_IDENTIFIER": container or (unit or "").removesuffix(".service"),
        }
        if container:
            fields |= {"CONTAINER_NAME": container, "CONTAINER_ID": uuid.UUID(int=rnd.getrandbits(128)).hex[:12]}
        lines.append(json.dumps(fields))
    return lines


def wait_for(check, what, timeout=90):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: gave up waiting for {what}")
        time.sleep(0.5)


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchone()[0]


def feed(base: str, dsn: str, standin: TelegramStandIn) -> None:
    """Metrics and journal lines through the ingest endpoints; the backend raises and sends the alerts."""
    auth = {"Authorization": f"Bearer {_token(dsn)}"}
    now = datetime.now(UTC)
    standin.script(["ok", "ok", "400"])  # one refused message: the history shows a failed delivery too
    httpx.post(f"{base}/metric", json=metrics(now), headers=auth).raise_for_status()
    logs = "\n".join(journal_lines(now)) + "\n"
    httpx.post(f"{base}/journal", json={"logs": logs}, headers=auth).raise_for_status()
    wait_for(lambda: count(dsn, "SELECT count(*) FROM metrics WHERE state = 'alert'") >= 4, "alerts")
    due = "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
    wait_for(lambda: count(dsn, due) == 0, "deliveries")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO silences (host_pattern, name_pattern, starts_at, ends_at, created_by, reason)"
            " VALUES ('nas1', '*', %s, %s, 'admin', 'OneFS upgrade to 9.7, node by node')",
            (now - timedelta(minutes=20), now + timedelta(hours=3)),
        )
        conn.execute(
            "INSERT INTO maintenance_windows (host_pattern, name_pattern, weekdays, start_time, duration,"
            " time_zone, created_by, reason) VALUES ('db1', '*', '{7}', '02:00', '2 hours', 'Europe/Berlin',"
            " 'admin', 'weekly VACUUM FULL and base backup')"
        )
    # a recovery, so the history has an "ok again" as well
    recovered = [{"host": "backup1", "name": "/srv/backup", "type": "disk", "value": "61"}]
    httpx.post(f"{base}/metric", json=recovered, headers=auth).raise_for_status()
    wait_for(lambda: count(dsn, "SELECT count(*) FROM alert_events WHERE transition = 'ok'") >= 1, "a recovery")


def take(base: str, password: str, out: Path) -> None:
    """Log in as the local admin (in Berlin) and save every page at both sizes."""
    with browser() as chromium:
        context = chromium.new_context(timezone_id=VIEWER_ZONE, locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(30_000)
        shots = [("login", "/login")]
        for name, path in [*shots, *PAGES.items()]:
            if name != "login" and "/login" in page.url:
                login_local(page, base, "admin", password)
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            if name == "journal":
                page.locator("details.entry summary").nth(2).click()
                page.locator("details.entry .field-list").first.wait_for()
            for size, (width, height) in SIZES.items():
                page.evaluate("() => window.scrollTo(0, 0)")
                # a phone shows one screen (a full page of cards would be metres long); a desktop the page
                saved = screenshot(page, out / f"{name}-{size}.png", width, height, full_page=size == "desktop")
                print(f"screenshots: {saved}")
        context.close()


def backend_settings(database: TimescaleDB, dbname: str, standin: TelegramStandIn, work: Path, password: str):
    return {
        "database": {
            "host": database.host,
            "port": database.port,
            "dbname": dbname,
            "user": "postgres",
            "password_file": secret_file(work / "db-password", database.password),
            "sslmode": "disable",
        },
        "alerts": {"evaluation_interval_seconds": 1},
        "telegram": {
            "enabled": True,
            "token_file": secret_file(work / "bot-token", "123456:stand-in"),
            "chat_id": 1,
            "api_base_url": standin.base_url,
            "ca_file": str(standin.ca_file),
            "max_attempts": 2,
            "poll_interval_seconds": 0.2,
        },
        "web": {
            "enabled": True,
            "session_key_file": secret_file(work / "session-key", secrets.token_urlsafe(48)),
            "admin_username": "admin",
            "admin_password_file": secret_file(work / "admin-password", password),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="directory for the PNG files")
    out = Path(parser.parse_args().out)
    work = Path(tempfile.mkdtemp(prefix="qs-screenshots-"))
    database = TimescaleDB().start()
    standin = TelegramStandIn().start()
    daemon = None
    try:
        dbname = "screens"
        with psycopg.connect(database.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        password = secrets.token_urlsafe(16)
        daemon, base = start_backend(backend_settings(database, dbname, standin, work, password), work)
        feed(base, database.dsn(dbname), standin)
        take(base, password, out)
    finally:
        if daemon is not None:
            daemon.stop()
        standin.stop()
        database.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _token(dsn: str) -> str:
    """An ingest token for any host, stored hashed as ``token-add`` does."""

    async def run():
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await add_token(conn, "*")

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
