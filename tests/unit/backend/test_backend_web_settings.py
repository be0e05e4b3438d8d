"""The ``web`` settings: each wrong one named at start; secrets only from files. Pure login helpers."""

from __future__ import annotations

import pytest

from ansible_collections.quadstats.stack.services.backend.settings import parse_settings
from ansible_collections.quadstats.stack.services.backend.web.login import LoginThrottle
from ansible_collections.quadstats.stack.services.backend.web.session import safe_next
from ansible_collections.quadstats.stack.services.common.config import ConfigError
from harness.daemon import secret_file


@pytest.fixture
def files(tmp_path):
    return {
        "key": secret_file(tmp_path / "key", "k" * 48),
        "short": secret_file(tmp_path / "short", "k" * 10),
        "admin": secret_file(tmp_path / "admin", "first-password"),
        "client": secret_file(tmp_path / "client", "client-secret"),
    }


def oidc(files, **extra):
    return {
        "discovery_url": "https://idp.example/.well-known/openid-configuration",
        "client_id": "quadstats",
        "client_secret_file": files["client"],
        "allowed_emails": ["a@example.org"],
        **extra,
    }


def test_web_is_off_by_default_and_needs_nothing_then():
    assert parse_settings({}).web.enabled is False


def test_valid_web_settings(files):
    web = parse_settings(
        {"web": {"enabled": True, "session_key_file": files["key"], "admin_password_file": files["admin"]}}
    ).web
    assert web.admin_username == "admin"
    assert web.session_lifetime_minutes == 720
    both = parse_settings({"web": {"enabled": True, "session_key_file": files["key"], "oidc": oidc(files)}}).web
    assert both.oidc.scopes == "openid email profile"


@pytest.mark.parametrize(
    ("web", "named"),
    [
        ({"enabled": True}, "web.session_key_file: needed"),
        ({"enabled": True, "session_key_file": "short"}, "at least 32 bytes"),
        ({"enabled": True, "session_key_file": "key"}, "web.admin_password_file and web.oidc"),
        ({"session_lifetime_minutes": 1}, "web.session_lifetime_minutes"),
        ({"admin_username": "a b"}, "web.admin_username"),
        ({"admin_password_file": "/nonexistent/pw"}, "web.admin_password_file: /nonexistent/pw does not exist"),
        ({"public_url": "https://x.example/"}, "web.public_url: unknown setting"),
        ({"session_secret": "inline"}, "web.session_secret: unknown setting"),
        ({"oidc": {"discovery_url": "http://idp.example/x"}}, "web.oidc.discovery_url"),
        ({"oidc": {"client_secret": "inline"}}, "web.oidc.client_secret: unknown setting"),
        ({"oidc": {"scopes": "email profile"}}, "web.oidc.scopes"),
    ],
)
def test_each_wrong_web_setting_is_named(files, web, named):
    for name in ("session_key_file", "admin_password_file"):
        if web.get(name) in files:
            web = {**web, name: files[web[name]]}
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_settings({"web": web})


def test_oidc_needs_an_allow_list_and_a_readable_secret(files, tmp_path):
    base = {"enabled": True, "session_key_file": files["key"]}
    with pytest.raises(ConfigError, match=r"web\.oidc\.allowed_emails: list"):
        parse_settings({"web": {**base, "oidc": oidc(files, allowed_emails=[])}})
    with pytest.raises(ConfigError, match=r"web\.oidc\.allowed_emails: 'nobody' is not an e-mail"):
        parse_settings({"web": {**base, "oidc": oidc(files, allowed_emails=["nobody"])}})
    missing = str(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"web\.oidc\.client_secret_file: secret file .* does not exist"):
        parse_settings({"web": {**base, "oidc": oidc(files, client_secret_file=missing)}})


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("/account?x=1", "/account?x=1"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/a\r\nSet-Cookie: x", "/"),
    ],
)
def test_next_stays_on_the_site(value, safe):
    assert safe_next(value) == safe


def test_throttle_locks_an_address_after_max_failures_for_the_window():
    throttle = LoginThrottle(max_failures=3, window=60)
    for t in (0, 1, 2):
        assert throttle.locked_for("10.0.0.1", t) == 0
        throttle.failed("10.0.0.1", t)
    assert throttle.locked_for("10.0.0.1", 3) == pytest.approx(57)
    assert throttle.locked_for("10.0.0.2", 3) == 0
    assert throttle.locked_for("10.0.0.1", 60.5) == 0  # the first failure left the window
    throttle.succeeded("10.0.0.1")
    assert throttle.locked_for("10.0.0.1", 3) == 0
