"""Real headless Chromium for browser tests: Debian's ``/usr/bin/chromium`` driven by Playwright.

Playwright's own browser downloads are never used (``executable_path``). ``--no-sandbox`` because
tests run as root, where Chromium's sandbox refuses to start. Helpers: log in with the local form,
run axe-core (the copy in ``tests/browser/node_modules``) and take screenshots at a given size.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = os.environ.get("QS_CHROMIUM", "/usr/bin/chromium")
T = TypeVar("T")
AXE = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "axe-core" / "axe.min.js"


def chromium_available() -> str | None:
    """None when browser tests can run here, else why not (for ``pytest.skip``)."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: install Debian's chromium (requirements/apt.txt, scripts/bootstrap.sh)"
    if not AXE.is_file():
        return f"{AXE} is missing: run npm ci in tests/browser (scripts/bootstrap.sh)"
    return None


def launch(playwright: Playwright, args: Sequence[str] = (), **options) -> Browser:
    """A headless Chromium from a running Playwright; ``args`` are extra command-line switches.

    One process may run only one sync Playwright: launch further browsers from the same one."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", *args], **options)


@contextlib.contextmanager
def browser(args: Sequence[str] = (), **options) -> Iterator[Browser]:
    """A headless Chromium (and its own Playwright) for the ``with`` block."""
    with sync_playwright() as playwright:
        chromium = launch(playwright, args, **options)
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def fresh_page(chromium: Browser, timeout_ms: float = 30_000) -> Iterator[Page]:
    """A page in a new browser context (its own cookies), closed after the ``with`` block.

    The default timeout is generous: a loaded 2-core machine; these are readiness waits, not timing checks."""
    context = chromium.new_context()
    context.set_default_timeout(timeout_ms)
    try:
        yield context.new_page()
    finally:
        context.close()


def retry_network_changed(flow: Callable[[], T], attempts: int = 3) -> T:
    """Run ``flow`` (a whole browser flow that starts with a ``goto``) again when Chromium aborts it
    with ``net::ERR_NETWORK_CHANGED``: Chromium does that whenever any network interface of the
    machine appears or goes (here: other tests' containers and veth pairs), even for 127.0.0.1."""
    for attempt in range(1, attempts + 1):
        try:
            return flow()
        except PlaywrightError as exc:
            if "ERR_NETWORK_CHANGED" not in str(exc) or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def login_local(page: Page, base_url: str, username: str, password: str, next_path: str | None = None) -> None:
    """Fill and send the local login form; returns once the answer page has loaded."""
    retry_network_changed(lambda: _login_local(page, base_url, username, password, next_path))


def _login_local(page: Page, base_url: str, username: str, password: str, next_path: str | None) -> None:
    page.goto(f"{base_url}/login" + (f"?next={next_path}" if next_path else ""))
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("form.login-local button[type=submit]")


def axe_violations(page: Page, impact: Sequence[str] = ("serious", "critical")) -> list[dict]:
    """axe-core's violations of the loaded page with one of ``impact`` (each: id, impact, help, nodes).

    axe is evaluated through the DevTools protocol, which a page's Content-Security-Policy does not
    block (an injected ``<script>`` would be)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    found = page.evaluate(
        """async () => (await window.axe.run(document, {resultTypes: ['violations']})).violations.map(
            v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return [v for v in found if v["impact"] in impact]


def screenshot(page: Page, path: str | os.PathLike[str], width: int, height: int, full_page: bool = True) -> Path:
    """The page at ``width`` x ``height`` CSS pixels (the whole page when ``full_page``) as a PNG."""
    page.set_viewport_size({"width": width, "height": height})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path
