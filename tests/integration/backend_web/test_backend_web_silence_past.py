"""The silences page refuses a silence or one-off maintenance window that is already over, with the
same check and message as the API (``silences.create_silence``/``create_window`` hold it), in real
Chromium against the backend process on the real database."""

from __future__ import annotations

from playwright.sync_api import expect

PAST_FROM, PAST_UNTIL = "2026-01-02T09:00", "2026-01-02T10:00"  # before today, the start before the end
REFUSED = "ends_at: is in the past: it must end in the future"


def submit_past(page, base_url, form, reason):
    """Fill the silences page's form ``s`` (silence) or ``w`` (window) with a past one-off span and send it."""
    page.goto(f"{base_url}/silences")
    page.fill(f"#{form}-reason", reason)
    if form == "s":
        page.select_option("#s-duration", "")
    page.fill(f"#{form}-start", PAST_FROM)
    page.fill(f"#{form}-end", PAST_UNTIL)
    page.click("#create-silence" if form == "s" else "#create-window")
    expect(page.locator("p.flash.error")).to_have_text(REFUSED)


def test_page_refuses_a_silence_that_is_already_over(logged_in_page, web_backend):
    page = logged_in_page
    submit_past(page, web_backend.base_url, "s", "over before it starts")
    assert web_backend.query("SELECT count(*) FROM silences") == [(0,)]
    # the same form with an end in the future is stored: the refusal is about the end, nothing else
    page.fill("#s-end", "2099-01-02T10:00")
    page.click("#create-silence")
    expect(page.locator("table.silences tr.silence", has_text="over before it starts")).to_have_count(1)
    assert web_backend.query("SELECT count(*) FROM silences") == [(1,)]


def test_page_refuses_a_one_off_window_that_is_already_over(logged_in_page, web_backend):
    submit_past(logged_in_page, web_backend.base_url, "w", "SAN move last winter")
    assert web_backend.query("SELECT count(*) FROM maintenance_windows") == [(0,)]
