# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering of the pages: the Jinja2 templates, time formatting in the viewer's zone, security headers.

The viewer's time zone comes from the ``tz`` cookie that ``static/app.js`` sets from the browser
(``Intl.DateTimeFormat().resolvedOptions().timeZone``); until then times are shown in UTC and the
script converts every ``<time datetime>`` in place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))

# Nothing inline, nothing from elsewhere: htmx runs with allowEval false and no indicator styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
    " font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
# FastAPI's own API explorer loads Swagger UI from a CDN; it keeps its behaviour (not a page of ours).
_NOT_OURS = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    """Security headers on every response (``session.NoStoreMiddleware`` keeps pages out of caches)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(_NOT_OURS):
            await self.app(scope, receive, send)
            return

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone called ``name``, None for an unknown or empty name."""
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def viewer_zone(request: Request) -> ZoneInfo:
    """The viewer's zone: the ``tz`` cookie the page script sets, else UTC."""
    return zone(request.cookies.get("tz")) or ZoneInfo("UTC")


def relative(when: datetime | None, now: datetime) -> str:
    """``42 s ago``, ``5 min ago``, ``3 h ago``, ``2 d ago`` (``in …`` for the future)."""
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            text = f"{seconds // size} {unit}"
            break
    else:
        text = f"{seconds} s"
    return f"in {text}" if future else f"{text} ago"


def local_text(when: datetime | None, tz: ZoneInfo) -> str:
    """``2026-11-30 14:05:09 CET``: absolute time in the viewer's zone."""
    if when is None:
        return ""
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def iso(when: datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).isoformat()


def span(length: timedelta) -> str:
    """``2 h``, ``1 h 30 min``, ``1 d 2 h``: a window's length as people say it."""
    minutes = int(length.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n]
    return " ".join(parts) or "0 min"


templates.env.filters["iso"] = iso
templates.env.filters["span"] = span
