"""The pages in real headless Chromium against the backend process on the real database: dashboard
(filters, live refresh, delete with confirm, silence from a row), host view, silences and
maintenance windows, alert history; security headers, CSP and axe-core on every page.

Data arrives through the real ingest endpoints with an ingest token; alerts come from the
backend's own evaluation rounds (every second here). Telegram is off: notifications stay
"not sent" (the outbox states are covered by ``test_backend_web_pages_history.py``).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from harness.browser import axe_violations, login_local

PAGES = ("/", "/hosts/web1", "/journal", "/silences", "/alerts")
PHONE = {"width": 390, "height": 844}


def wait_for(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.3)


def ingest_token(backend):
    """A token for any host; in a thread, since Playwright's sync API runs an event loop in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(backend.ingest_token, "*").result()


def post_metrics(backend, token, *metrics):
    answer = httpx.post(f"{backend.base_url}/metric", json=list(metrics), headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def backend(make_web_backend):
    """A backend evaluating alerts every second, with metrics of three hosts; web1 "/var" alerting."""
    backend = make_web_backend(alerts={"evaluation_interval_seconds": 1})
    backend.token = ingest_token(backend)
    post_metrics(
        backend,
        backend.token,
        {"host": "web1", "name": "/", "type": "disk", "value": "42"},
        {"host": "web1", "name": "/var", "type": "disk", "value": "97"},
        {"host": "web2", "name": "web2", "type": "ping"},
        {"host": "web2", "name": "container nginx", "type": "ping"},
        {"host": "db1", "name": "/srv/pg", "type": "disk", "value": "71.5"},
    )
    wait_for(
        lambda: backend.query("SELECT state FROM metrics WHERE host = 'web1' AND name = '/var'") == [("alert",)],
        "web1 /var to alert",
    )
    return backend


@pytest.fixture
def user_page(page, backend):
    login_local(page, backend.base_url, backend.admin_username, backend.admin_password)
    return page


def rows(page):
    return page.locator("#metric-rows tr.metric")


def test_dashboard_lists_alerts_first_and_filters_by_host_and_state(user_page, backend):
    page = user_page
    assert page.url == f"{backend.base_url}/"
    first = rows(page).first
    expect(first).to_have_attribute("data-name", "/var")
    expect(first).to_have_class(re.compile(r"\bstate-alert\b"))
    expect(first.locator(".badge-alert")).to_have_text("alert")
    expect(first.locator("td[data-label=Value]")).to_contain_text("97")
    # last seen: absolute (a <time> with its instant) and relative
    stamp = first.locator("time.abs").get_attribute("datetime")
    assert abs(datetime.fromisoformat(stamp) - datetime.now(UTC)) < timedelta(minutes=10)
    expect(first.locator(".rel")).to_contain_text("ago")

    page.select_option("#filter-host", "web2")
    expect(rows(page)).to_have_count(2)
    assert {rows(page).nth(i).get_attribute("data-host") for i in range(2)} == {"web2"}
    expect(page).to_have_url(re.compile(r"[?&]host=web2"))

    page.select_option("#filter-host", "")
    page.select_option("#filter-state", "alert")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_have_attribute("data-name", "/var")
    expect(page).to_have_url(re.compile(r"[?&]state=alert"))
    page.reload()  # the URL holds the filters
    expect(page.locator("#filter-state")).to_have_value("alert")
    expect(rows(page)).to_have_count(1)


def test_dashboard_refreshes_without_a_reload(user_page, backend):
    page = user_page
    page.evaluate("() => { window.__sameDocument = true; }")
    post_metrics(backend, backend.token, {"host": "web3", "name": "/", "type": "disk", "value": "12"})
    expect(page.locator('#metric-rows tr[data-host="web3"]')).to_have_count(1, timeout=40_000)
    assert page.evaluate("() => window.__sameDocument") is True


def test_delete_asks_for_confirmation(user_page, backend):
    post_metrics(backend, backend.token, {"host": "old1", "name": "leftover", "type": "ping"})
    page = user_page
    page.reload()
    row = page.locator('#metric-rows tr[data-host="old1"]')
    expect(row).to_have_count(1)
    messages = []

    def dismiss(dialog):
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.locator("button.delete").click()
    wait_for(lambda: messages, "the confirmation dialog")
    assert messages == ["Delete leftover on old1? It comes back with its next report."]
    expect(row).to_have_count(1)
    assert backend.query("SELECT count(*) FROM metrics WHERE host = 'old1'") == [(1,)]

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.delete").click()
    expect(row).to_have_count(0)
    assert backend.query("SELECT count(*) FROM metrics WHERE host = 'old1'") == [(0,)]


def test_silence_from_a_row(user_page, backend):
    page = user_page
    row = page.locator('#metric-rows tr[data-host="db1"]')
    expect(row.locator(".badge-silenced")).to_have_count(0)
    row.locator("summary", has_text="Silence").click()
    row.locator("select[name=duration]").select_option("4h")
    row.locator("input[name=reason]").fill("disk swap on db1")
    before = datetime.now(UTC)
    row.locator("button.silence-submit").click()
    expect(page.locator('#metric-rows tr[data-host="db1"] .badge-silenced')).to_have_text("silenced")
    [(host_pattern, name_pattern, starts_at, ends_at, by)] = backend.query(
        "SELECT host_pattern, name_pattern, starts_at, ends_at, created_by FROM silences"
        " WHERE reason = 'disk swap on db1'"
    )
    assert (host_pattern, name_pattern, by) == ("db1", "/srv/pg", "admin")
    assert timedelta(hours=4) == ends_at - starts_at
    assert before - timedelta(minutes=1) < starts_at < datetime.now(UTC) + timedelta(minutes=1)
    # the silence also shows on the silences page, and the state filter finds the row
    page.goto(f"{backend.base_url}/?state=silenced")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_have_attribute("data-host", "db1")


def test_host_view_shows_metrics_open_alerts_and_journal(user_page, backend):
    now = datetime.now(UTC)
    line = {
        "__REALTIME_TIMESTAMP": str(int(now.timestamp() * 1e6)),
        "_HOSTNAME": "web1",
        "MESSAGE": "host view line",
        "PRIORITY": "4",
        "_SYSTEMD_UNIT": "nginx.service",
    }
    answer = httpx.post(
        f"{backend.base_url}/journal",
        json={"logs": json.dumps(line) + "\n"},
        headers={"Authorization": f"Bearer {backend.token}"},
    )
    assert answer.status_code == 200, answer.text
    page = user_page
    page.goto(f"{backend.base_url}/hosts/web1")
    expect(page.locator("h1")).to_have_text("web1")
    expect(page.locator(".alert-item")).to_have_count(1)
    expect(page.locator(".alert-item")).to_contain_text("/var")
    expect(rows(page)).to_have_count(2)
    expect(page.locator("#journal-rows")).to_contain_text("host view line")
    expect(page.locator("table.events")).to_contain_text("/var")
    # a dashboard row's host links here (what Telegram messages link to as well)
    page.goto(f"{backend.base_url}/")
    page.locator('#metric-rows tr[data-host="web1"] a', has_text="web1").first.click()
    expect(page).to_have_url(f"{backend.base_url}/hosts/web1")


def test_silences_create_and_expire(user_page, backend):
    page = user_page
    page.goto(f"{backend.base_url}/silences")
    page.fill("#s-host", "web*")
    page.fill("#s-name", "*")
    page.select_option("#s-duration", "2h")
    page.fill("#s-reason", "kernel update on the web servers")
    page.click("#create-silence")
    expect(page).to_have_url(f"{backend.base_url}/silences")
    row = page.locator("table.silences tr.silence", has_text="kernel update on the web servers")
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label=Host]")).to_have_text("web*")
    [(silence_id, ends_at, starts_at)] = backend.query(
        "SELECT id, ends_at, starts_at FROM silences WHERE reason = 'kernel update on the web servers'"
    )
    assert ends_at - starts_at == timedelta(hours=2)
    # every web* metric is marked silenced on the dashboard now
    page.goto(f"{backend.base_url}/?host=web2")
    expect(page.locator("#metric-rows tr.metric.silenced")).to_have_count(2)

    page.goto(f"{backend.base_url}/silences")
    row.locator("button.expire").click()
    expect(page.locator("table.silences tr.silence", has_text="kernel update")).to_have_count(0)
    expect(page.locator("#expired-silences + ul")).to_contain_text("expired early by admin")
    [(ends_at, expired_by)] = backend.query("SELECT ends_at, expired_by FROM silences WHERE id = %s", (silence_id,))
    assert expired_by == "admin"
    assert ends_at <= datetime.now(UTC)


def test_silence_form_names_the_wrong_field(user_page, backend):
    page = user_page
    page.goto(f"{backend.base_url}/silences")
    page.fill("#s-reason", "   ")  # passes the browser's "required", stripped to nothing by the server
    page.click("#create-silence")
    expect(page.locator("p.flash.error")).to_have_text("reason: must not be empty")
    page.fill("#s-reason", "window in the past")
    page.select_option("#s-duration", "")
    page.fill("#s-start", "2026-01-02T10:00")
    page.fill("#s-end", "2026-01-02T09:00")
    page.click("#create-silence")
    expect(page.locator("p.flash.error")).to_have_text("ends_at: must be after starts_at")


def test_maintenance_window_weekly_create_and_delete(user_page, backend):
    page = user_page
    page.goto(f"{backend.base_url}/silences")
    page.fill("#w-host", "db*")
    page.check("input[name=weekday_sun]")
    page.check("input[name=weekday_wed]")
    page.fill("#w-time", "02:30")
    page.fill("#w-duration", "90m")
    page.fill("#w-zone", "Europe/Berlin")
    page.fill("#w-reason", "weekly backup")
    page.click("#create-window")
    row = page.locator("table.windows tr.window", has_text="weekly backup")
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label=When]")).to_contain_text("every wed, sun at 02:30 Europe/Berlin for 1 h 30 min")
    assert backend.query("SELECT weekdays, time_zone FROM maintenance_windows WHERE reason = 'weekly backup'") == [
        ([3, 7], "Europe/Berlin")
    ]
    row.locator("button.danger").click()
    expect(page.locator("table.windows tr.window", has_text="weekly backup")).to_have_count(0)
    assert backend.query("SELECT count(*) FROM maintenance_windows WHERE reason = 'weekly backup'") == [(0,)]


def test_alert_history_shows_transitions_and_delivery(user_page, backend):
    page = user_page
    page.goto(f"{backend.base_url}/alerts")
    event = page.locator("table.events tr.event", has_text="/var").first
    expect(event.locator(".badge-alert")).to_have_text("alert")
    expect(event.locator("td[data-label=Notification]")).to_have_text("not sent: notifications off")
    page.select_option("#history-host", "db1")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"/alerts\?host=db1"))
    expect(page.locator("table.events tr.event")).to_have_count(0)


def test_every_page_needs_a_login_and_every_change_a_csrf_token(page, backend):
    for path in PAGES:
        answer = httpx.get(f"{backend.base_url}{path}", follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login")
    htmx = httpx.get(f"{backend.base_url}/dashboard/rows", headers={"HX-Request": "true"})
    assert (htmx.status_code, htmx.headers["HX-Redirect"]) == (401, "/login?next=/dashboard/rows")

    login_local(page, backend.base_url, backend.admin_username, backend.admin_password)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=backend.base_url, cookies=cookies) as session:
        assert session.get("/silences").status_code == 200
        form = {"host": "web1", "name": "/", "duration": "1h", "reason": "no token"}
        refused = session.post("/metrics/silence", data=form)
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith("csrf_token: missing")
        refused = session.post("/metrics/delete", data={"host": "web1", "name": "/", "csrf_token": "forged"})
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith("csrf_token: wrong")
    assert backend.query("SELECT count(*) FROM metrics WHERE host = 'web1' AND name = '/'") == [(1,)]
    assert backend.query("SELECT count(*) FROM silences WHERE reason = 'no token'") == [(0,)]


def test_pages_send_security_headers_and_hold_no_inline_code(user_page, backend):
    cookies = {c["name"]: c["value"] for c in user_page.context.cookies()}
    with httpx.Client(base_url=backend.base_url, cookies=cookies) as session:
        for path in (*PAGES, "/login"):
            # the login page as a visitor without a session sees it
            answer = session.get(path) if path != "/login" else httpx.get(f"{backend.base_url}/login")
            assert answer.status_code == 200, path
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe" not in csp
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["cache-control"] == "no-store"
            html = answer.text
            assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
            assert " style=" not in html and "<style" not in html, path
            assert re.findall(r"\son[a-z]+=", html) == [], path
            assert not re.search(r"(src|href)=\"(https?:)?//", html), path  # nothing from elsewhere
        htmx = session.get("/static/htmx.min.js")
        assert htmx.status_code == 200
        assert htmx.headers["content-type"].startswith(("text/javascript", "application/javascript"))


def test_no_content_security_policy_violations_in_the_browser(user_page, backend):
    page = user_page
    reports = []
    page.on("console", lambda msg: reports.append(msg.text) if "Content Security Policy" in msg.text else None)
    for path in PAGES:
        page.goto(f"{backend.base_url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{backend.base_url}/journal")
    if page.locator("details.entry summary").count():
        page.locator("details.entry summary").first.click()
        expect(page.locator("details.entry .field-list").first).to_be_visible()
    assert reports == []
    assert page.evaluate("() => typeof htmx === 'object' && htmx.config.allowEval === false")
    assert page.evaluate("() => htmx.config.includeIndicatorStyles === false")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_pages_have_no_serious_accessibility_violations(user_page, backend, viewport):
    page = user_page
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    for path in PAGES:
        page.goto(f"{backend.base_url}{path}")
        page.wait_for_load_state("networkidle")
        assert axe_violations(page) == [], path
        if viewport == "phone":  # usable on a phone: nothing wider than the screen
            assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], path
