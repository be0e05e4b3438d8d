"""The silences page refuses a silence or one-off maintenance window that is already over, with the
same check and message as the API (``silences.create_silence``/``create_window`` hold it), in real
Chromium against the backend process on the real database."""

from __future__ import annotations

from playwright.sync_api import expect

PAST_FROM, PAST_UNTIL = "2026-01-02T09:00", "2026-01-02T10:00"  # before today, the start before the end
REFUSED = "ends_at: is in the past: it must end in the future"


def test_page_refuses_a_silence_that_is_already_over(logged_in_page, web_backend):
    page = logged_in_page
    page.goto(f"{web_backend.base_url}/silences")
    page.fill("#s-reason", "over before it starts")
    page.select_option("#s-duration", "")
    page.fill("#s-start", PAST_FROM)
    page.fill("#s-end", PAST_UNTIL)
    page.click("#create-silence")
    expect(page.locator("p.flash.error")).to_have_text(REFUSED)
    assert web_backend.query("SELECT count(*) FROM silences") == [(0,)]
    # the same form with an end in the future is stored: the refusal is about the end, nothing else
    page.fill("#s-end", "2099-01-02T10:00")
    page.click("#create-silence")
    expect(page.locator("table.silences tr.silence", has_text="over before it starts")).to_have_count(1)
    assert web_backend.query("SELECT count(*) FROM silences") == [(1,)]


def test_page_refuses_a_one_off_window_that_is_already_over(logged_in_page, web_backend):
    page = logged_in_page
    page.goto(f"{web_backend.base_url}/silences")
    page.fill("#w-reason", "SAN move last winter")
    page.fill("#w-start", PAST_FROM)
    page.fill("#w-end", PAST_UNTIL)
    page.click("#create-window")
    expect(page.locator("p.flash.error")).to_have_text(REFUSED)
    assert web_backend.query("SELECT count(*) FROM maintenance_windows") == [(0,)]
