"""Fixtures for the web pages: the backend as a real process with web login on, on the real
PostgreSQL 17 + TimescaleDB, and real headless Chromium (Debian's, driven by Playwright).

``web_backend`` (one per test module) has the local admin ``admin`` with a random password
(``web_backend.admin_password``); ``make_web_backend(web={...})`` starts another with more web
settings (the OpenID tests use it). ``page`` is a fresh browser context's page per test;
``logged_in_page`` is one already logged in as the local admin. ``oidc_provider`` (per module) is a
real OpenID provider; ``idp_page`` a page of a Chromium that trusts its test certificate.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import secrets
import ssl
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import sync_playwright

from ansible_collections.quadstats.stack.services.backend.auth import add_token
from harness.backend_service import start_backend
from harness.browser import chromium_available, fresh_page, launch, login_local
from harness.daemon import DaemonProcess, secret_file
from harness.oidc_provider import OidcProvider, node_available
from harness.timescaledb import free_tcp_port

ADMIN = "admin"


@dataclass
class WebBackend:
    """A running backend with web login: its URL, the admin's credentials, its database."""

    base_url: str
    admin_username: str
    admin_password: str
    dsn: str
    daemon: DaemonProcess
    directory: Path
    settings: dict = field(repr=False)
    tls: dict | None = None

    def query(self, sql, params=()):
        """Rows of ``sql`` on the backend's database (``[]`` for a statement without rows)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def ingest_token(self, host="*"):
        """A new ingest token (stored hashed, as ``token-add`` does)."""

        async def run():
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                return await add_token(conn, host)

        # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run()).result()

    def restart(self, **web_changes) -> None:
        """Stop the process and start it again on the same port and database with ``web`` settings changed."""
        self.daemon.stop()
        self.settings = {**self.settings, "web": {**self.settings["web"], **web_changes}}
        self.daemon, self.base_url = start_backend(
            self.settings, self.directory, port=httpx.URL(self.base_url).port, tls=self.tls
        )

    def client(self, session_cookie=None) -> httpx.Client:
        """An HTTP client for the backend, with a session cookie when given (close it after use)."""
        return httpx.Client(
            base_url=self.base_url,
            cookies={"quadstats_session": session_cookie} if session_cookie else None,
            verify=ssl.create_default_context(cafile=self.tls["ca"]) if self.tls else True,
        )


@pytest.fixture(scope="module")
def make_web_backend(timescaledb, tmp_path_factory):
    """``make(web={...}, port=None, tls=None, **sections) -> WebBackend``: a backend process on a new
    database, web login on (HTTPS when ``tls`` holds ``harness.certs.make_test_ca``'s paths)."""
    started = []

    def make(web=None, port=None, tls=None, **sections):
        directory = tmp_path_factory.mktemp("web-backend")
        dbname = "w_" + uuid.uuid4().hex[:12]
        with psycopg.connect(timescaledb.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        password = "pw-" + secrets.token_urlsafe(12)
        settings = {
            "database": {
                "host": timescaledb.host,
                "port": timescaledb.port,
                "dbname": dbname,
                "user": "postgres",
                "password_file": secret_file(directory / "db-password", timescaledb.password),
                "sslmode": "disable",
                "pool_max_size": 4,
            },
            "web": {
                "enabled": True,
                "session_key_file": secret_file(directory / "session-key", secrets.token_urlsafe(48)),
                "admin_username": ADMIN,
                "admin_password_file": secret_file(directory / "admin-password", password),
                **(web or {}),
            },
            **sections,
        }
        daemon, base = start_backend(settings, directory, port=port, tls=tls)
        backend = WebBackend(base, ADMIN, password, timescaledb.dsn(dbname), daemon, directory, settings, tls)
        started.append((backend, dbname))
        return backend

    yield make
    for backend, dbname in started:
        backend.daemon.stop()
        with psycopg.connect(timescaledb.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')


@pytest.fixture(scope="module")
def web_backend(make_web_backend):
    return make_web_backend()


@pytest.fixture(scope="module")
def playwright():
    """The sync Playwright of a test module (launch more browsers with ``harness.browser.launch``).

    Per module, not per session: while it runs, its event loop runs in the main thread, and every
    later test calling ``asyncio.run`` (other directories' too) would fail."""
    missing = chromium_available()
    if missing:
        pytest.skip(missing)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright):
    with contextlib.closing(launch(playwright)) as launched:
        yield launched


@pytest.fixture
def page(chromium):
    """A page in a fresh browser context (own cookies), closed after the test."""
    with fresh_page(chromium) as opened:
        yield opened


@pytest.fixture
def logged_in_page(page, web_backend):
    login_local(page, web_backend.base_url, web_backend.admin_username, web_backend.admin_password, "/account")
    return page


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory):
    """A real OpenID provider (``harness.oidc_provider``) whose client may redirect to a backend on
    ``oidc_provider.backend_port`` (start that backend with ``make_web_backend(port=…)``)."""
    missing = node_available()
    if missing:
        pytest.skip(missing)
    port = free_tcp_port()
    started = OidcProvider(tmp_path_factory.mktemp("idp"), [f"http://127.0.0.1:{port}/auth/callback"]).start()
    started.backend_port = port
    yield started
    started.stop()


@pytest.fixture(scope="module")
def idp_chromium(oidc_provider, playwright):
    """Chromium that accepts the provider's test certificate (by its key) and no other."""
    with contextlib.closing(launch(playwright, oidc_provider.chromium_args())) as launched:
        yield launched


@pytest.fixture
def idp_page(idp_chromium):
    with fresh_page(idp_chromium) as opened:
        yield opened
