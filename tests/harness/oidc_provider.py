"""A real OpenID Connect provider for tests: ``node tests/browser/oidc_provider.mjs`` (oidc-provider 9.13.3).

It serves HTTPS on 127.0.0.1 with a certificate from its own test CA (:mod:`harness.certs`), so the
backend verifies it with ``web.oidc.ca_file`` instead of turning verification off; Chromium is told
to accept that one certificate by its key (:meth:`OidcProvider.chromium_args`). One confidential
client (secret in a 0600 file, as the backend's ``web.oidc.client_secret_file`` wants it) and test
accounts; PKCE (S256) is required. Its login page has ``#oidc-login``, ``#oidc-password``,
``#oidc-submit``; its consent page ``#oidc-consent``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.browser import retry_network_changed
from harness.certs import make_test_ca
from harness.daemon import secret_file
from harness.trixie_container import free_tcp_port

SCRIPT = Path(__file__).resolve().parents[1] / "browser" / "oidc_provider.mjs"
NODE_MODULES = SCRIPT.parent / "node_modules" / "oidc-provider"


@dataclass(frozen=True)
class Account:
    login: str
    password: str
    email: str
    email_verified: bool = True
    name: str = ""


ALLOWED = Account("alice", "alice-pw-" + secrets.token_hex(4), "alice@example.test", True, "Alice Allowed")
REFUSED = Account("mallory", "mallory-pw-" + secrets.token_hex(4), "mallory@example.test", True, "Mallory Refused")
UNVERIFIED = Account("eve", "eve-pw-" + secrets.token_hex(4), "eve@example.test", False, "Eve Unverified")
ACCOUNTS = (ALLOWED, REFUSED, UNVERIFIED)


def node_available() -> str | None:
    """None when the provider can run here, else why not (for ``pytest.skip``)."""
    if shutil.which("node") is None:
        return "node is missing: install Debian's nodejs (requirements/apt.txt)"
    if not NODE_MODULES.is_dir():
        return f"{NODE_MODULES} is missing: run npm ci in tests/browser (scripts/bootstrap.sh)"
    return None


class OidcProvider:
    """``OidcProvider(directory, redirect_uris).start()`` … ``stop()``."""

    def __init__(self, directory, redirect_uris, accounts=ACCOUNTS, client_id="quadstats-test") -> None:
        self.directory = Path(directory)
        self.redirect_uris = list(redirect_uris)
        self.accounts = tuple(accounts)
        self.client_id = client_id
        self.client_secret = "client-secret-" + secrets.token_urlsafe(24)
        self.port = free_tcp_port()
        self.issuer = f"https://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self, timeout: float = 60) -> OidcProvider:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tls = make_test_ca(
            self.directory / "tls", hostnames=(), ips=("127.0.0.1",), ca_name="quadstats test IdP CA"
        )
        self.ca_file = self.tls["ca"]
        self.client_secret_file = secret_file(self.directory / "client-secret", self.client_secret)
        config = {
            "issuer": self.issuer,
            "port": self.port,
            "tls": {"cert": self.tls["cert"], "key": self.tls["key"]},
            "client": {
                "client_id": self.client_id,
                "client_secret_file": self.client_secret_file,
                "redirect_uris": self.redirect_uris,
            },
            "accounts": [a.__dict__ for a in self.accounts],
        }
        config_path = self.directory / "provider.json"
        secret_file(config_path, json.dumps(config))  # holds the accounts' passwords
        self.log_path = self.directory / "provider.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                ["node", str(SCRIPT), str(config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=SCRIPT.parent
            )
        deadline = time.monotonic() + timeout
        while "oidc-provider ready" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the test OpenID provider did not start:\n{self.log()}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def chromium_args(self) -> list[str]:
        """Chromium switches that accept this provider's certificate (by its public key) and no other."""
        cert = x509.load_pem_x509_certificate(Path(self.tls["cert"]).read_bytes())
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return [f"--ignore-certificate-errors-spki-list={base64.b64encode(hashlib.sha256(spki).digest()).decode()}"]

    def web_settings(self, allowed_emails, **extra) -> dict:
        """The backend's ``web.oidc`` settings for this provider."""
        return {
            "discovery_url": self.discovery_url,
            "client_id": self.client_id,
            "client_secret_file": self.client_secret_file,
            "ca_file": self.ca_file,
            "allowed_emails": list(allowed_emails),
            **extra,
        }


def login_through_provider(page, base_url: str, account: Account, next_path: str = "/account") -> None:
    """In the browser, starting without cookies: open ``next_path`` of the backend at ``base_url``,
    land on its login page, follow its single sign-on button, sign in at the provider as ``account``
    and allow access; returns once the browser is back at the backend (logged in, or refused)."""
    retry_network_changed(lambda: _login_through_provider(page, base_url, account, next_path))


def _login_through_provider(page, base_url: str, account: Account, next_path: str) -> None:
    page.context.clear_cookies()  # a retried flow starts afresh at both ends
    page.goto(f"{base_url}{next_path}")
    if not page.url.startswith(f"{base_url}/login?next="):
        raise AssertionError(f"{next_path} did not lead to the login page but to {page.url}")
    with page.expect_navigation():
        page.click("a#login-oidc")
    page.fill("#oidc-login", account.login)
    page.fill("#oidc-password", account.password)
    with page.expect_navigation():
        page.click("#oidc-submit")
    with page.expect_navigation(url=lambda url: url.startswith(base_url)):
        page.click("#oidc-consent")
