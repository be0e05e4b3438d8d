"""Screenshots of the running demo (./scripts/demo.sh up) into docs/screenshots/demo-*.png, and its alert round trip.

    .venv/bin/python scripts/demo_screenshots.py [--out DIR]

Logs in to the demo's backend as admin in headless Chromium (tests/harness/browser.py), takes the dashboard (the
hosts' heartbeats and disks), the monitored host's page and the journal filtered for ``qs-demo-app``; then stops
``qs-demo-app`` on qs-demo-host, waits for the alert on the dashboard and in the Telegram stand-in's record, takes
the dashboard and the alert history, starts the container again and waits for the recovery. It prints the
Telegram messages about the container and how long each step took. The browser trusts the demo's private CA by
ignoring certificate errors in this one context (a screenshot tool; the stack's own clients verify it).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness.browser import browser, login_local, screenshot  # noqa: E402
from harness.target_host import TargetHost  # noqa: E402

BACKEND, HOST, APP, USER = "qs-demo-backend", "qs-demo-host", "qs-demo-app", "quadstats"
MESSAGES = ROOT / ".cache" / "demo" / "servers" / "telegram.jsonl"
WIDTH, HEIGHT = 1280, 800


def app_messages() -> list[str]:
    if not MESSAGES.exists():
        return []
    texts = [(json.loads(line)["json"] or {}).get("text", "") for line in MESSAGES.read_text().splitlines()]
    texts = [re.sub(r"<[^>]+>", "", t) for t in texts]  # the messages are Telegram HTML
    return [t for t in texts if f"container {APP}" in t]


def wait_for(check, what: str, timeout: float = 300) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"demo screenshots: gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(2)
    took = time.monotonic() - start
    print(f"demo screenshots: {what} after {took:.0f} s")
    return took


def demo(action: str) -> None:
    subprocess.run([str(ROOT / "scripts" / "demo.sh"), action], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    out = Path(parser.parse_args().out)
    base = f"https://{TargetHost(BACKEND).address}:8443"
    password = TargetHost(BACKEND).ssh(f"cat /var/lib/quadstats/{USER}/backend-admin-password").stdout.strip()
    before = len(app_messages())
    with browser() as chromium:
        context = chromium.new_context(ignore_https_errors=True, timezone_id="UTC")
        context.set_default_timeout(60_000)
        page = context.new_page()
        login_local(page, base, "admin", password)

        def shoot(name: str, path: str, full_page: bool = True) -> None:
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            print(f"demo screenshots: {screenshot(page, out / f'demo-{name}.png', WIDTH, HEIGHT, full_page)}")

        def dashboard_has(text: str) -> bool:
            page.goto(f"{base}/?host={HOST}")
            return text in page.content()

        wait_for(lambda: dashboard_has(f"container {APP}"), f"the heartbeat of {APP} on the dashboard")
        shoot("dashboard", "/")
        shoot("host", f"/hosts/{HOST}", full_page=False)
        shoot("journal", f"/journal?container={APP}", full_page=False)
        demo("stop-app")
        stopped = time.monotonic()
        wait_for(lambda: len(app_messages()) > before, f"the Telegram alert about {APP}")
        print(f"demo screenshots: alert {time.monotonic() - stopped:.0f} s after the stop")
        shoot("alert", f"/?host={HOST}")
        shoot("alerts", "/alerts", full_page=False)
        demo("start-app")
        started = time.monotonic()
        wait_for(lambda: len(app_messages()) > before + 1, f"the Telegram recovery of {APP}")
        print(f"demo screenshots: recovery {time.monotonic() - started:.0f} s after the start")
        time.sleep(15)  # a late duplicate would show here
        context.close()
    messages = app_messages()[before:]
    print("demo screenshots: Telegram messages about the container:", *messages, sep="\n  ")
    alerts = [m for m in messages if m.startswith("Alert:")]
    recoveries = [m for m in messages if m.startswith("OK again:")]
    if len(alerts) != 1 or len(recoveries) != 1:
        print(f"demo screenshots: expected one alert and one recovery, got {len(alerts)} and {len(recoveries)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
