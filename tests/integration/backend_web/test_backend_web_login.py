"""Local admin login in real headless Chromium against the backend process on the real database:
login, logout for real (back button, replayed cookie), a wrong password, CSRF, ingest tokens."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from harness.browser import axe_violations, login_local
from harness.certs import make_test_ca
from harness.daemon import REPO, SERVICES

SESSION = "quadstats_session"


def form_token(html):
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def session_cookie(page):
    return next(c for c in page.context.cookies() if c["name"] == SESSION)


def test_local_admin_logs_in_and_out(page, web_backend):
    login_local(page, web_backend.base_url, web_backend.admin_username, web_backend.admin_password, "/account")
    assert page.url == f"{web_backend.base_url}/account"
    assert page.text_content("#account-name") == web_backend.admin_username
    cookie = session_cookie(page)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain HTTP here; see test_secure_cookies_and_lockout
    stored = web_backend.query("SELECT user_id, kind, id_sha256 FROM web_sessions")
    assert [row[:2] for row in stored] == [("local:admin", "local")]
    assert cookie["value"].encode() not in bytes(stored[0][2])  # only a hash of the id is stored
    with page.expect_navigation():
        page.click("#logout")
    assert page.url == f"{web_backend.base_url}/login?logged_out=1"
    assert "You are logged out" in page.text_content("#login-notice")
    assert web_backend.query("SELECT count(*) FROM web_sessions") == [(0,)]


def test_logout_then_back_button_shows_nothing_and_the_old_cookie_is_dead(page, web_backend):
    base = web_backend.base_url
    login_local(page, base, web_backend.admin_username, web_backend.admin_password, "/account")
    assert page.text_content("#account-name") == web_backend.admin_username
    old_cookie = session_cookie(page)["value"]
    with web_backend.client(old_cookie) as client:
        answer = client.get("/account")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    with page.expect_navigation():
        page.click("#logout")
    page.go_back()
    page.wait_for_load_state()
    assert page.url.startswith(f"{base}/login")
    assert page.locator("#account-name").count() == 0
    assert web_backend.admin_username not in page.locator("main").inner_text()
    with web_backend.client(old_cookie) as client:
        replayed = client.get("/account")
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/login?next=/account"


def test_wrong_password_and_unknown_user_get_the_same_answer(page, web_backend):
    answers = []
    for username, password in ((web_backend.admin_username, "not-the-password"), ("nobody", "whatever-pw")):
        page.goto(f"{web_backend.base_url}/login")
        page.fill("#username", username)
        page.fill("#password", password)
        with page.expect_navigation() as nav:
            page.click("form.login-local button[type=submit]")
        answers.append((nav.value.status, page.text_content("#login-error")))
        assert page.input_value("#username") == username
    assert answers == [(401, "Wrong user name or password.")] * 2
    assert web_backend.query("SELECT count(*) FROM web_sessions") == [(0,)]


def test_csrf_token_is_required(page, web_backend):
    base = web_backend.base_url
    login_local(page, base, web_backend.admin_username, web_backend.admin_password, "/account")
    cookie = session_cookie(page)["value"]
    # A forged form (no token) sent by the browser itself, as another site's page would make it do.
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    with page.expect_navigation() as nav:
        page.click("#logout")
    assert nav.value.status == 403
    assert "csrf_token: missing" in page.content()
    assert web_backend.query("SELECT count(*) FROM web_sessions") == [(1,)]
    with web_backend.client(cookie) as client:
        wrong = client.post("/logout", data={"csrf_token": "0" * 64})
        assert wrong.status_code == 403
        assert "csrf_token: wrong" in wrong.json()["detail"]
        assert client.post("/account/logout-others").status_code == 403
        # The login form's token (tied to another id) does not fit a session either.
        with web_backend.client() as anonymous:
            login_token = form_token(anonymous.get("/login").text)
        assert client.post("/logout", data={"csrf_token": login_token}).status_code == 403
        # With its token (the page's meta tag, as HTMX sends it) the same request works.
        page.goto(f"{base}/account")
        meta = page.get_attribute("meta[name=csrf-token]", "content")
        ok = client.post("/logout", headers={"X-CSRF-Token": meta})
    assert ok.status_code == 303
    assert web_backend.query("SELECT count(*) FROM web_sessions") == [(0,)]


def test_login_form_needs_its_csrf_token(web_backend):
    form = {"username": web_backend.admin_username, "password": web_backend.admin_password}
    answer = httpx.post(f"{web_backend.base_url}/login", data=form)
    assert answer.status_code == 403
    assert web_backend.query("SELECT count(*) FROM web_sessions") == [(0,)]


def test_ingest_tokens_never_open_pages(web_backend):
    base = web_backend.base_url
    token = web_backend.ingest_token("*")
    sent = httpx.post(
        f"{base}/metric", json={"host": "h1", "name": "/", "type": "disk", "value": "1"}, auth=("h1", token)
    )
    assert sent.status_code == 200  # the token is good for ingest
    for attempt in (
        {"headers": {"Authorization": f"Bearer {token}"}},
        {"auth": ("admin", token)},
        {"cookies": {SESSION: token}},
    ):
        with httpx.Client(**attempt) as client:
            answer = client.get(f"{base}/account")
        assert answer.status_code == 303, attempt
        assert answer.headers["location"].startswith("/login")


def test_unauthenticated_page_redirects_to_login(web_backend):
    answer = httpx.get(f"{web_backend.base_url}/account?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/account%3Fx%3D1"
    htmx = httpx.get(f"{web_backend.base_url}/account", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"] == "/login?next=/account"


def test_a_change_without_a_session_goes_to_the_login_page(web_backend):
    with web_backend.client() as client:
        answer = client.post("/account/logout-others", data={"csrf_token": "x"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login"
        htmx = client.post("/account/logout-others", headers={"HX-Request": "true", "X-CSRF-Token": "x"})
        assert htmx.status_code == 401
        assert htmx.headers["HX-Redirect"] == "/login"


def test_next_never_leaves_the_site(page, web_backend):
    login_local(page, web_backend.base_url, web_backend.admin_username, web_backend.admin_password, "//evil.example/x")
    assert page.url.startswith(web_backend.base_url)


def test_an_expired_session_is_refused(page, web_backend):
    login_local(page, web_backend.base_url, web_backend.admin_username, web_backend.admin_password, "/account")
    web_backend.query("UPDATE web_sessions SET expires_at = now() - interval '1 second'")
    page.goto(f"{web_backend.base_url}/account")
    assert page.url.startswith(f"{web_backend.base_url}/login?next=")


def test_login_page_has_no_serious_accessibility_violations(page, web_backend):
    page.goto(f"{web_backend.base_url}/login")
    assert axe_violations(page) == []
    login_local(page, web_backend.base_url, web_backend.admin_username, web_backend.admin_password, "/account")
    assert axe_violations(page) == []


@pytest.mark.slow
def test_admin_password_cli_changes_it_and_ends_sessions(page, web_backend):
    base = web_backend.base_url
    login_local(page, base, web_backend.admin_username, web_backend.admin_password, "/account")
    (sessions,) = web_backend.query("SELECT count(*) FROM web_sessions WHERE user_id = 'local:admin'")[0]
    assert sessions >= 1
    new_password = "a-new-admin-password-" + os.urandom(4).hex()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            SERVICES + "backend",
            "--config",
            str(web_backend.directory / "backend.yml"),
            "admin-password",
        ],
        input=new_password + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / ".venv")},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{sessions} session(s) ended" in proc.stdout
    assert web_backend.query("SELECT count(*) FROM web_sessions") == [(0,)]
    assert new_password not in proc.stdout + proc.stderr
    page.goto(f"{base}/account")
    assert page.url.startswith(f"{base}/login")
    login_local(page, base, web_backend.admin_username, web_backend.admin_password, "/account")
    assert page.text_content("#login-error") == "Wrong user name or password."
    login_local(page, base, web_backend.admin_username, new_password, "/account")
    assert page.url == f"{base}/account"
    web_backend.admin_password = new_password


def test_secure_cookies_and_lockout(make_web_backend):
    backend = make_web_backend(web={"secure_cookies": True, "login_max_failures": 3})
    with backend.client() as client:
        form = client.get("/login")
    assert form.headers["cache-control"] == "no-store"
    login_cookie = form.headers["set-cookie"]
    assert "Secure" in login_cookie
    assert "HttpOnly" in login_cookie
    assert "SameSite=lax" in login_cookie
    # httpx keeps Secure cookies for https only: send the login form's cookie by hand.
    with httpx.Client(base_url=backend.base_url, cookies=dict(form.cookies.items())) as client:

        def attempt(password):
            return client.post(
                "/login", data={"csrf_token": form_token(form.text), "username": "admin", "password": password}
            )

        assert [attempt("wrong-password").status_code for _attempt in range(3)] == [401] * 3
        locked = attempt(backend.admin_password)
    assert locked.status_code == 429
    assert "Too many failed logins from your address" in locked.text
    assert backend.query("SELECT count(*) FROM web_sessions") == [(0,)]


def test_https_marks_cookies_secure_without_the_setting(make_web_backend, tmp_path):
    backend = make_web_backend(tls=make_test_ca(tmp_path / "tls", hostnames=(), ips=("127.0.0.1",)))
    assert backend.base_url.startswith("https://")
    with backend.client() as client:
        form = client.get("/login")
        assert "Secure" in form.headers["set-cookie"]
        data = {"csrf_token": form_token(form.text), "username": "admin", "password": backend.admin_password}
        logged_in = client.post("/login", data=data)
        assert logged_in.status_code == 303
        session = next(v for k, v in logged_in.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION))
        assert "Secure" in session
        assert "HttpOnly" in session
        assert client.get("/account").status_code == 200
