"""The journal viewer in real headless Chromium against the backend process on the real database:
the viewer's time zone, filters held in the URL, inclusive start/end, keyset paging forward and
back that stays right while new lines arrive, a line's fields, and follow mode seeing a line
ingested during the test. Lines arrive through the real ``POST /journal`` with an ingest token.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect
from test_backend_web_pages import ingest_token

from harness.browser import login_local

VIEWER_ZONE = "America/New_York"
APP_LINES = 120


def journal_line(when: datetime, message: str, host: str = "web1", **fields) -> str:
    return json.dumps(
        {
            "__REALTIME_TIMESTAMP": str(int(when.timestamp()) * 1_000_000),
            "_HOSTNAME": host,
            "MESSAGE": message,
            "PRIORITY": "6",
            "_SYSTEMD_UNIT": "app.service",
            **fields,
        }
    )


def ingest(backend, lines):
    answer = httpx.post(
        f"{backend.base_url}/journal",
        json={"logs": "\n".join(lines) + "\n"},
        headers={"Authorization": f"Bearer {backend.token}"},
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def backend(make_web_backend):
    """120 app.service lines of web1, one every 5 s until two minutes ago; 5 nginx errors of web2."""
    backend = make_web_backend()
    backend.token = ingest_token(backend)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    backend.times = [end - timedelta(seconds=5 * (APP_LINES - 1 - i)) for i in range(APP_LINES)]
    lines = [
        journal_line(t, f"app line {i:03d}", CODE_FILE="src/app.c", SYSLOG_IDENTIFIER="app")
        for i, t in enumerate(backend.times)
    ]
    lines += [
        journal_line(
            end - timedelta(seconds=2 + k),
            f"upstream timed out #{k}",
            host="web2",
            PRIORITY="3",
            CONTAINER_NAME="nginx",
            _SYSTEMD_UNIT="libpod-abc.scope",
        )
        for k in range(5)
    ]
    ingest(backend, lines)
    return backend


@pytest.fixture
def viewer(chromium, backend):
    """A logged-in page whose browser lives in New York (the pages must follow the viewer's zone)."""
    context = chromium.new_context(timezone_id=VIEWER_ZONE)
    context.set_default_timeout(30_000)
    page = context.new_page()
    login_local(page, backend.base_url, backend.admin_username, backend.admin_password)
    yield page
    context.close()


def messages(page):
    return page.locator("#journal-rows details.entry summary")


def app_lines(first, last):
    """Messages of app lines ``first``..``last`` (inclusive), newest first as the viewer shows them."""
    return [f"app line {i:03d}" for i in range(last, first - 1, -1)]


def test_default_is_the_last_15_minutes_in_the_viewers_zone(viewer, backend):
    page = viewer
    page.goto(f"{backend.base_url}/journal")
    expect(page.locator("#j-start")).not_to_have_value("")
    zone = ZoneInfo(VIEWER_ZONE)
    start = datetime.fromisoformat(page.input_value("#j-start")).replace(tzinfo=zone)
    assert abs(start - (datetime.now(UTC) - timedelta(minutes=15))) < timedelta(minutes=3)
    assert page.input_value("#j-end") == ""
    expect(page.locator("label[for=j-start]")).to_contain_text(VIEWER_ZONE)
    # newest first, the default page size of 50
    expect(page.locator("#journal-rows tr.line")).to_have_count(50)
    newest = backend.times[-1].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    expect(page.locator("#journal-rows tr.line").first.locator("time")).to_have_text(newest)
    expect(messages(page).first).to_have_text("app line 119")


def test_filters_are_applied_and_held_in_the_url(viewer, backend):
    page = viewer
    page.goto(f"{backend.base_url}/journal")
    page.fill("#j-host", "web2")
    page.select_option("#j-priority", "3")
    page.fill("#j-message", "TIMED OUT")
    page.click("#apply")
    expect(page.locator("#journal-rows tr.line")).to_have_count(5)
    assert sorted(messages(page).all_text_contents()) == [f"upstream timed out #{k}" for k in range(5)]
    expect(page.locator("#journal-rows tr.line").first.locator("td[data-label=Unit]")).to_have_text("nginx")
    for part in ("host=web2", "priority=3", "message=TIMED\\+OUT", f"tz={VIEWER_ZONE.replace('/', '%2F')}"):
        expect(page).to_have_url(re.compile(part))
    shared = page.url
    page.goto(f"{backend.base_url}/journal")
    page.goto(shared)  # a bookmarked or shared view shows the same lines
    expect(page.locator("#journal-rows tr.line")).to_have_count(5)
    expect(page.locator("#j-message")).to_have_value("TIMED OUT")

    page.fill("#j-host", "")
    page.fill("#j-message", "")
    page.select_option("#j-priority", "")
    page.fill("#j-container", "nginx")
    page.click("#apply")
    expect(page.locator("#journal-rows tr.line")).to_have_count(5)
    page.fill("#j-container", "")
    page.fill("#j-unit", "app.service")
    page.select_option("#j-limit", "200")
    page.click("#apply")
    expect(page.locator("#journal-rows tr.line")).to_have_count(APP_LINES)


def test_start_and_end_are_inclusive(viewer, backend):
    page = viewer
    zone = ZoneInfo(VIEWER_ZONE)
    start, end = backend.times[10], backend.times[20]
    local = {k: v.astimezone(zone).replace(tzinfo=None).isoformat() for k, v in (("start", start), ("end", end))}
    page.goto(f"{backend.base_url}/journal?host=web1&limit=200&start={local['start']}&end={local['end']}")
    expect(messages(page)).to_have_text(app_lines(10, 20))
    # an end given to the minute includes that whole minute
    minute_end = end.astimezone(zone).replace(tzinfo=None, second=0).isoformat(timespec="minutes")
    page.goto(f"{backend.base_url}/journal?host=web1&limit=200&start={local['start']}&end={minute_end}")
    last_in_minute = max(i for i, t in enumerate(backend.times) if t.replace(second=0) == end.replace(second=0))
    expect(messages(page)).to_have_text(app_lines(10, last_in_minute))
    # a wrong value is named, not a 5xx
    page.goto(f"{backend.base_url}/journal?start=yesterday")
    expect(page.locator("p.flash.error")).to_have_text(re.compile(r"^start: a date and time"))


def test_paging_forward_and_back_stays_right_while_lines_arrive(viewer, backend):
    page = viewer
    page.goto(f"{backend.base_url}/journal?host=web1&limit=25")
    expect(messages(page)).to_have_text(app_lines(95, 119))
    expect(page.locator("#newer")).to_have_count(0)
    page.click("#older")
    expect(messages(page)).to_have_text(app_lines(70, 94))
    page.click("#older")
    expect(messages(page)).to_have_text(app_lines(45, 69))

    arrived = [journal_line(datetime.now(UTC) - timedelta(seconds=k), f"new line {k}") for k in range(10)]
    ingest(backend, arrived)

    page.click("#newer")
    expect(messages(page)).to_have_text(app_lines(70, 94))
    page.click("#newer")
    expect(messages(page)).to_have_text(app_lines(95, 119))  # not shifted by the 10 new lines
    page.click("#newer")
    expect(messages(page)).to_have_text([f"new line {k}" for k in range(10)])
    page.click("#older")
    expect(messages(page)).to_have_text(app_lines(95, 119))
    # the last page has no "older" link
    page.goto(f"{backend.base_url}/journal?host=web1&limit=200")
    expect(page.locator("#journal-rows tr.line")).to_have_count(APP_LINES + 10)
    expect(page.locator("#older")).to_have_count(0)


def test_a_line_expands_to_all_its_fields(viewer, backend):
    page = viewer
    page.goto(f"{backend.base_url}/journal?host=web1&message=app+line+007")
    expect(messages(page)).to_have_text(["app line 007"])
    page.locator("#journal-rows details.entry summary").click()
    fields = page.locator("#journal-rows .field-list")
    expect(fields).to_be_visible()
    expect(fields.locator("dt")).to_contain_text(["CODE_FILE", "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER"])
    expect(fields.locator("dt", has_text="CODE_FILE").locator("xpath=following-sibling::dd[1]")).to_have_text(
        "src/app.c"
    )
    expect(fields.locator("dt", has_text="_SYSTEMD_UNIT").locator("xpath=following-sibling::dd[1]")).to_have_text(
        "app.service"
    )


def test_follow_mode_shows_a_line_ingested_meanwhile(viewer, backend):
    page = viewer
    page.goto(f"{backend.base_url}/journal?host=web1")
    page.click("#follow")
    expect(page.locator(".following")).to_be_visible()
    expect(page).to_have_url(re.compile(r"follow=1"))
    page.evaluate("() => { window.__sameDocument = true; }")
    marker = f"tail {uuid.uuid4().hex[:8]}"
    ingest(backend, [journal_line(datetime.now(UTC), marker)])
    expect(page.locator("#journal-rows details.entry summary").first).to_have_text(marker, timeout=30_000)
    assert page.evaluate("() => window.__sameDocument") is True
    page.click("#unfollow")
    expect(page.locator("#follow")).to_be_visible()
