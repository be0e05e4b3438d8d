"""Local admin login in real headless Chromium against the backend process on the real database."""

from __future__ import annotations

import httpx

from harness.browser import axe_violations, login_local


def test_local_admin_logs_in_and_out(page, web_backend):
    login_local(page, web_backend.base_url, web_backend.admin_username, web_backend.admin_password, "/account")
    assert page.url == f"{web_backend.base_url}/account"
    assert page.text_content("#account-name") == web_backend.admin_username
    cookie = next(c for c in page.context.cookies() if c["name"] == "quadstats_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert web_backend.query("SELECT user_id, kind FROM web_sessions") == [("local:admin", "local")]
    with page.expect_navigation():
        page.click("#logout")
    assert page.url == f"{web_backend.base_url}/login?logged_out=1"
    assert "You are logged out" in page.text_content("#login-notice")
    assert web_backend.query("SELECT count(*) FROM web_sessions") == [(0,)]


def test_login_page_has_no_serious_accessibility_violations(page, web_backend):
    page.goto(f"{web_backend.base_url}/login")
    assert axe_violations(page) == []


def test_unauthenticated_page_redirects_to_login(web_backend):
    answer = httpx.get(f"{web_backend.base_url}/account?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/account%3Fx%3D1"
    htmx = httpx.get(f"{web_backend.base_url}/account", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"] == "/login?next=/account"
