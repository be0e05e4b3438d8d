"""Login through a real OpenID Connect provider (oidc-provider 9.13.3 on Node, over HTTPS with its own
test CA) in real headless Chromium, against the backend process on the real database."""

from __future__ import annotations

import pytest

from harness.browser import launch, new_page
from harness.oidc_provider import ALLOWED, UNVERIFIED, OidcProvider, node_available
from harness.trixie_container import free_tcp_port


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    missing = node_available()
    if missing:
        pytest.skip(missing)
    port = free_tcp_port()
    started = OidcProvider(tmp_path_factory.mktemp("idp"), [f"http://127.0.0.1:{port}/auth/callback"]).start()
    started.backend_port = port
    yield started
    started.stop()


@pytest.fixture(scope="module")
def oidc_backend(provider, make_web_backend):
    web = {"oidc": provider.web_settings([ALLOWED.email, UNVERIFIED.email], button_label="Log in with Test IdP")}
    return make_web_backend(web=web, port=provider.backend_port)


@pytest.fixture(scope="module")
def idp_chromium(provider, playwright):
    """Chromium that accepts the provider's test certificate (by its key) and no other."""
    launched = launch(playwright, provider.chromium_args())
    yield launched
    launched.close()


@pytest.fixture
def idp_page(idp_chromium):
    opened = new_page(idp_chromium)
    yield opened
    opened.context.close()


def login_through_provider(page, backend, account, next_path="/account"):
    page.goto(f"{backend.base_url}{next_path}")
    assert page.url.startswith(f"{backend.base_url}/login?next=")
    with page.expect_navigation():
        page.click("a#login-oidc")
    page.fill("#oidc-login", account.login)
    page.fill("#oidc-password", account.password)
    with page.expect_navigation():
        page.click("#oidc-submit")
    with page.expect_navigation(url=lambda url: url.startswith(backend.base_url)):
        page.click("#oidc-consent")


def test_allowed_email_logs_in_through_the_provider(idp_page, oidc_backend, provider):
    login_through_provider(idp_page, oidc_backend, ALLOWED)
    assert idp_page.url == f"{oidc_backend.base_url}/account"
    assert idp_page.text_content("#account-email") == ALLOWED.email
    assert idp_page.text_content("#account-name") == ALLOWED.name
    rows = oidc_backend.query("SELECT user_id, kind, email FROM web_sessions")
    assert rows == [(f"oidc:{provider.issuer}#{ALLOWED.login}", "oidc", ALLOWED.email)]
    assert not any(c["name"] == "quadstats_oidc" for c in idp_page.context.cookies())
