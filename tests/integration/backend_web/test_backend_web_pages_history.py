"""The alert history page shows each transition with its notification's fate from the outbox:
sent, failed, still pending (with the next attempt) and silenced. Telegram is the local HTTPS
stand-in of the Bot API (``harness.telegram_standin``; the real Telegram cannot be reached here),
driven by the backend's real delivery rounds; alerts come from its real evaluation rounds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from test_backend_web_pages import ingest_token, post_metrics, wait_for

from harness.browser import axe_violations, login_local
from harness.daemon import secret_file
from harness.telegram_standin import TelegramStandIn


@pytest.fixture(scope="module")
def standin():
    server = TelegramStandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def backend(make_web_backend, standin, tmp_path_factory):
    token_file = secret_file(tmp_path_factory.mktemp("telegram") / "bot-token", "123456:stand-in-token")
    backend = make_web_backend(
        alerts={"evaluation_interval_seconds": 1},
        telegram={
            "enabled": True,
            "token_file": token_file,
            "chat_id": 42,
            "api_base_url": standin.base_url,
            "ca_file": str(standin.ca_file),
            "max_attempts": 3,
            "poll_interval_seconds": 0.2,
        },
    )
    backend.token = ingest_token(backend)
    return backend


def outbox_of(backend, name):
    rows = backend.query(
        "SELECT o.sent_at, o.failed_at, o.attempts FROM outbox o JOIN alert_events e ON e.id = o.event_id"
        " WHERE e.name = %s",
        (name,),
    )
    return rows[0] if rows else None


def alert(backend, name):
    post_metrics(backend, backend.token, {"host": "web1", "name": name, "type": "disk", "value": "96"})
    wait_for(lambda: backend.query("SELECT 1 FROM alert_events WHERE name = %s", (name,)), f"{name} to alert")


def test_history_shows_sent_failed_pending_and_silenced(page, backend, standin):
    standin.script(["ok"])
    alert(backend, "/sent")
    wait_for(lambda: (outbox_of(backend, "/sent") or [None])[0], "/sent to be sent")

    standin.script(["403"])  # Telegram refuses: failed at once
    alert(backend, "/failed")
    wait_for(lambda: (outbox_of(backend, "/failed") or [None, None])[1], "/failed to fail")

    standin.script(["429:3600"])  # rate-limited for an hour: pending
    alert(backend, "/pending")
    wait_for(lambda: (outbox_of(backend, "/pending") or [0, 0, 0])[2] >= 1, "/pending's first attempt")

    now = datetime.now(UTC)
    backend.query(
        "INSERT INTO silences (host_pattern, name_pattern, starts_at, ends_at, created_by, reason)"
        " VALUES ('web1', '/silenced', %s, %s, 'test', 'muted')",
        (now - timedelta(minutes=1), now + timedelta(hours=1)),
    )
    alert(backend, "/silenced")

    login_local(page, backend.base_url, backend.admin_username, backend.admin_password, "/alerts")
    expect(page).to_have_url(f"{backend.base_url}/alerts")

    def delivery(name):
        return page.locator("table.events tr.event", has_text=name).locator("td[data-label=Notification]")

    expect(delivery("/sent")).to_have_text(re.compile(r"^telegram: sent \S+ \S+ \S+ .*ago"))
    expect(delivery("/failed")).to_have_text(re.compile(r"^telegram: failed after 1 attempt — .*403"))
    expect(delivery("/pending")).to_have_text(re.compile(r"^telegram: pending, 1 attempt so far, next .* in \d+ min"))
    expect(delivery("/silenced")).to_have_text(re.compile(r"^\s*not sent: silenced\s*$"))
    expect(page.locator("table.events tr.event").first).to_contain_text("/silenced")  # newest first
    assert axe_violations(page) == []
