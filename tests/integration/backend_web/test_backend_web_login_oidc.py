"""Login through a real OpenID Connect provider (oidc-provider 9.13.3 on Node, over HTTPS with its own
test CA) in real headless Chromium, against the backend process on the real database."""

from __future__ import annotations

import contextlib
import ssl

import httpx
import pytest

from harness.oidc_provider import (
    ALLOWED,
    REFUSED,
    UNVERIFIED,
    login_through_provider,
)


@pytest.fixture(scope="module")
def oidc_backend(oidc_provider, make_web_backend):
    web = {"oidc": oidc_provider.web_settings([ALLOWED.email, UNVERIFIED.email], button_label="Log in with Test IdP")}
    # Debug logs: the secrets canary below reads the most a log can say.
    return make_web_backend(web=web, port=oidc_provider.backend_port, log_level="debug")


def test_allowed_email_logs_in_through_the_provider(idp_page, oidc_backend, oidc_provider):
    login_through_provider(idp_page, oidc_backend.base_url, ALLOWED)
    assert idp_page.url == f"{oidc_backend.base_url}/account"
    assert idp_page.text_content("#account-email") == ALLOWED.email
    assert idp_page.text_content("#account-name") == ALLOWED.name
    rows = oidc_backend.query("SELECT user_id, kind, email FROM web_sessions")
    assert rows == [(f"oidc:{oidc_provider.issuer}#{ALLOWED.login}", "oidc", ALLOWED.email)]
    assert not any(c["name"] == "quadstats_oidc" for c in idp_page.context.cookies())


def test_refused_email_gets_a_clear_page_and_no_session(idp_page, oidc_backend):
    login_through_provider(idp_page, oidc_backend.base_url, REFUSED)
    assert idp_page.url.startswith(f"{oidc_backend.base_url}/auth/callback?")
    assert idp_page.text_content("h1") == "Access refused"
    assert idp_page.text_content("#login-error") == (
        f"The e-mail address {REFUSED.email} is not allowed to use this service. Ask the administrator to add it."
    )
    assert oidc_backend.query("SELECT count(*) FROM web_sessions WHERE email = %s", (REFUSED.email,)) == [(0,)]
    idp_page.goto(f"{oidc_backend.base_url}/account")
    assert idp_page.url.startswith(f"{oidc_backend.base_url}/login")


def test_unverified_email_is_refused_even_when_allowed(idp_page, oidc_backend):
    login_through_provider(idp_page, oidc_backend.base_url, UNVERIFIED)
    assert idp_page.text_content("#login-error") == (
        f"Your identity provider has not verified the e-mail address {UNVERIFIED.email}."
    )
    assert oidc_backend.query("SELECT count(*) FROM web_sessions WHERE email = %s", (UNVERIFIED.email,)) == [(0,)]


def test_taking_an_email_off_the_allow_list_ends_its_sessions(idp_page, oidc_backend):
    login_through_provider(idp_page, oidc_backend.base_url, ALLOWED)
    cookie = next(c for c in idp_page.context.cookies() if c["name"] == "quadstats_session")["value"]
    oidc_settings = oidc_backend.settings["web"]["oidc"]
    count = "SELECT count(*) FROM web_sessions WHERE email = %s"
    (before,) = oidc_backend.query(count, (ALLOWED.email,))[0]
    try:
        oidc_backend.restart(oidc={**oidc_settings, "allowed_emails": [UNVERIFIED.email]})
        with oidc_backend.client(cookie) as client:
            assert client.get("/account").status_code == 303
        assert oidc_backend.query(count, (ALLOWED.email,)) == [(before - 1,)]  # that session is gone
    finally:
        oidc_backend.restart(oidc=oidc_settings)


def test_oidc_logout_ends_the_session(idp_page, oidc_backend):
    login_through_provider(idp_page, oidc_backend.base_url, ALLOWED)
    cookie = next(c for c in idp_page.context.cookies() if c["name"] == "quadstats_session")["value"]
    with idp_page.expect_navigation():
        idp_page.click("#logout")
    with oidc_backend.client(cookie) as client:
        assert client.get("/account").status_code == 303


def start_at_backend(backend):
    """GET /login/oidc without a browser: (client holding the state cookie, the authorization URL)."""
    client = httpx.Client(base_url=backend.base_url)
    answer = client.get("/login/oidc?next=/account")
    assert answer.status_code == 303, answer.text
    return client, httpx.URL(answer.headers["location"])


def test_authorization_request_carries_pkce_state_and_nonce(oidc_backend, oidc_provider):
    client, url = start_at_backend(oidc_backend)
    client.close()
    params = url.params
    assert str(url).startswith(f"{oidc_provider.issuer}/auth?")
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43  # base64url of a sha256
    assert len(params["state"]) >= 32
    assert len(params["nonce"]) >= 32
    assert params["redirect_uri"] == f"{oidc_backend.base_url}/auth/callback"
    assert set(params["scope"].split()) == {"openid", "email", "profile"}
    # The test provider really enforces PKCE: the same request without it is refused.
    without = {k: v for k, v in params.items() if not k.startswith("code_challenge")}
    refused = httpx.get(
        f"{oidc_provider.issuer}/auth", params=without, verify=ssl.create_default_context(cafile=oidc_provider.ca_file)
    )
    assert refused.status_code == 303
    assert "error=invalid_request" in refused.headers["location"]


def test_callback_refuses_a_wrong_or_missing_state(oidc_backend):
    client, url = start_at_backend(oidc_backend)
    with contextlib.closing(client):
        wrong = client.get("/auth/callback", params={"code": "x", "state": url.params["state"] + "x"})
        assert wrong.status_code == 400
        assert "does not match this browser" in wrong.text
    with httpx.Client(base_url=oidc_backend.base_url) as fresh:
        missing = fresh.get("/auth/callback", params={"code": "x", "state": url.params["state"]})
    assert missing.status_code == 400
    assert "Please try again" in missing.text


def test_a_forged_code_is_refused_by_the_token_endpoint(oidc_backend):
    client, url = start_at_backend(oidc_backend)
    with contextlib.closing(client):
        forged = client.get("/auth/callback", params={"code": "forged-code", "state": url.params["state"]})
    assert forged.status_code == 400
    assert "Single sign-on failed" in forged.text
    assert "token endpoint refused the code" in oidc_backend.daemon.log()


def test_issuer_tls_is_verified_by_default(make_web_backend, oidc_provider):
    settings = oidc_provider.web_settings([ALLOWED.email])
    del settings["ca_file"]  # the system's CAs do not know the test CA
    backend = make_web_backend(web={"oidc": settings})
    with backend.client() as client:
        answer = client.get("/login/oidc")
    assert answer.status_code == 502
    assert "The identity provider cannot be reached" in answer.text
    assert "web.oidc.ca_file" in backend.daemon.log()


def test_no_secret_reaches_the_log_or_a_page(idp_page, oidc_backend, oidc_provider):
    login_through_provider(idp_page, oidc_backend.base_url, ALLOWED)
    cookie = next(c for c in idp_page.context.cookies() if c["name"] == "quadstats_session")["value"]
    page_text = idp_page.content()
    session_key = (oidc_backend.directory / "session-key").read_text().strip()
    log = oidc_backend.daemon.log()
    assert "web login:" in log  # the log is there and speaks of logins
    for secret in (oidc_provider.client_secret, session_key, oidc_backend.admin_password, ALLOWED.password, cookie):
        assert secret not in log
        assert secret not in page_text
