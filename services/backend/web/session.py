# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is logged in to the web pages: server-side sessions, their cookie, CSRF tokens.

A session is a row of ``web_sessions`` (migration 6) keyed by the sha256 of a random id; the
browser holds that id signed (itsdangerous) in an ``HttpOnly``, ``SameSite=Lax`` cookie, ``Secure``
on HTTPS or when ``web.secure_cookies`` says so. Logout deletes the row, so a copied cookie is dead
afterwards. Ingest tokens are never looked at here: pages accept only this cookie.

The CSRF token of a session is an HMAC of its id (nothing more to store); the login form, which
has no session yet, gets one tied to a random id in a cookie of its own. Page routes declare
``Depends(require_user)`` and, when they change state, ``Depends(require_csrf)``; templates get
``user`` and ``csrf_token`` from :func:`template_context`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, Signer

from ansible_collections.quadstats.stack.services.backend.settings import Settings, WebSettings, session_key
from ansible_collections.quadstats.stack.services.backend.web.forms import FORM_TYPE, read_form

SESSION_COOKIE = "quadstats_session"
LOGIN_COOKIE = "quadstats_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
_USER = "quadstats_web_user"  # request.state keys (also read by WebPageMiddleware from scope["state"])
_SESSION_ID = "quadstats_web_session_id"
_LOGIN_ID = "quadstats_web_login_id"


@dataclass(frozen=True)
class User:
    """A logged-in person: ``id`` is ``local:<username>`` or ``oidc:<issuer>#<subject>``."""

    id: str
    email: str | None
    name: str
    kind: str  # "local" | "oidc"


class LoginRequired(Exception):
    """Raised by :func:`require_user`; answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def safe_next(value: str | None) -> str:
    """A local path to return to after login; anything else (other sites, ``//host``) becomes ``/``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n\\"):
        return "/"
    return value


class WebAuth:
    """Session and CSRF machinery of one app (``app.state.web_auth``)."""

    def __init__(self, web: WebSettings, pool_of, clock) -> None:
        key = session_key(web).encode()
        self.web = web
        self.signer = Signer(key, salt="quadstats.web.session")
        self.login_signer = Signer(key, salt="quadstats.web.login")
        self.csrf_key = hmac.new(key, b"quadstats.web.csrf", hashlib.sha256).digest()
        self.lifetime = timedelta(minutes=web.session_lifetime_minutes)
        self.pool_of = pool_of  # () -> the app's pool (opened in the lifespan, after this object)
        self.clock = clock

    # -- cookies -------------------------------------------------------------------------------------
    def secure(self, request: Request) -> bool:
        return self.web.secure_cookies or request.url.scheme == "https"

    def set_cookie(self, request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/", secure=self.secure(request), httponly=True, samesite="lax"
        )

    def clear_cookie(self, request: Request, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.secure(request), httponly=True, samesite="lax")

    def cookie_value(self, request: Request, name: str, signer: Signer) -> str | None:
        raw = request.cookies.get(name)
        if not raw or len(raw) > 256:
            return None
        try:
            return signer.unsign(raw).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    # -- sessions ------------------------------------------------------------------------------------
    async def start_session(self, request: Request, response: Response, user: User) -> None:
        """A new session for ``user`` (never the old id: no session fixation); ends the one the browser had."""
        await self.end_session(request)
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        async with self.pool_of().connection() as conn:
            await conn.execute("DELETE FROM web_sessions WHERE expires_at <= %s", (now,))
            await conn.execute(
                "INSERT INTO web_sessions (id_sha256, user_id, kind, email, name, created_at, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (_digest(session_id), user.id, user.kind, user.email, user.name, now, now + self.lifetime),
            )
        self.set_cookie(
            request, response, SESSION_COOKIE, self.signer.sign(session_id).decode(), int(self.lifetime.total_seconds())
        )
        self.clear_cookie(request, response, LOGIN_COOKIE)

    async def end_session(self, request: Request) -> bool:
        """Delete the browser's session row; True when there was one."""
        session_id = self.cookie_value(request, SESSION_COOKIE, self.signer)
        if session_id is None:
            return False
        async with self.pool_of().connection() as conn:
            cur = await conn.execute("DELETE FROM web_sessions WHERE id_sha256 = %s", (_digest(session_id),))
        setattr(request.state, _USER, None)
        setattr(request.state, _SESSION_ID, None)
        return cur.rowcount > 0

    async def end_other_sessions(self, request: Request, user: User) -> int:
        session_id = getattr(request.state, _SESSION_ID)
        async with self.pool_of().connection() as conn:
            cur = await conn.execute(
                "DELETE FROM web_sessions WHERE user_id = %s AND id_sha256 <> %s", (user.id, _digest(session_id))
            )
        return cur.rowcount

    async def session_user(self, request: Request) -> tuple[User, str] | None:
        session_id = self.cookie_value(request, SESSION_COOKIE, self.signer)
        if session_id is None:
            return None
        async with self.pool_of().connection() as conn:
            cur = await conn.execute(
                "SELECT user_id, email, name, kind FROM web_sessions WHERE id_sha256 = %s AND expires_at > %s",
                (_digest(session_id), self.clock()),
            )
            row = await cur.fetchone()
            user = User(*row) if row else None
            if user is not None and not self.still_allowed(user):
                # Taken off the allow-list (or that way to log in turned off) since: the session ends.
                await conn.execute("DELETE FROM web_sessions WHERE id_sha256 = %s", (_digest(session_id),))
                user = None
        return (user, session_id) if user else None

    def still_allowed(self, user: User) -> bool:
        """Whether the settings still let ``user`` in (they may have changed since the login)."""
        if user.kind == "oidc":
            return self.web.oidc is not None and self.web.oidc.allows(user.email)
        return self.web.admin_password_file is not None

    # -- CSRF ----------------------------------------------------------------------------------------
    def token_for(self, purpose: str, ident: str) -> str:
        return hmac.new(self.csrf_key, f"{purpose}:{ident}".encode(), hashlib.sha256).hexdigest()

    def login_id(self, request: Request) -> tuple[str, str | None]:
        """The login form's random id, and the cookie to set when the browser had none (else None)."""
        login_id = self.cookie_value(request, LOGIN_COOKIE, self.login_signer)
        cookie = None
        if login_id is None:
            login_id = secrets.token_urlsafe(24)
            cookie = self.login_signer.sign(login_id).decode()
        setattr(request.state, _LOGIN_ID, login_id)
        return login_id, cookie


def web_auth(request: Request) -> WebAuth:
    found = getattr(request.app.state, "web_auth", None)
    if found is None:
        raise HTTPException(404, "web pages are off: set web.enabled in the backend's settings")
    return found


async def current_user(request: Request) -> User | None:
    """The user of the request's session cookie, or None (looked up once per request)."""
    if hasattr(request.state, _USER):
        return getattr(request.state, _USER)
    found = await web_auth(request).session_user(request)
    user, session_id = found if found else (None, None)
    setattr(request.state, _USER, user)
    setattr(request.state, _SESSION_ID, session_id)
    return user


async def require_user(request: Request) -> User:
    """FastAPI dependency: the logged-in user, else a redirect to ``/login?next=…`` (see :class:`LoginRequired`)."""
    user = await current_user(request)
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method in ("GET", "HEAD") else "/")
    return user


# What a page route declares: ``user: CurrentUser`` (the logged-in user, else off to the login page).
CurrentUser = Annotated[User, Depends(require_user)]


def csrf_token(request: Request) -> str:
    """The CSRF token for forms and ``<meta name="csrf-token">`` of this request's session (or login form)."""
    auth = web_auth(request)
    session_id = getattr(request.state, _SESSION_ID, None)
    if session_id:
        return auth.token_for("session", session_id)
    login_id = getattr(request.state, _LOGIN_ID, None)
    return auth.token_for("login", login_id) if login_id else ""


async def _sent_csrf_token(request: Request) -> str:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM_TYPE:
        sent = (await read_form(request)).get(CSRF_FIELD)
    if not sent:
        raise HTTPException(403, f"{CSRF_FIELD}: missing; send the form from the page (or header {CSRF_HEADER})")
    return sent


def _check_csrf(sent: str, expected: str | None) -> None:
    if expected is None or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, f"{CSRF_FIELD}: wrong or expired; reload the page and try again")


async def require_csrf(request: Request) -> None:
    """FastAPI dependency for state-changing page routes: the form field ``csrf_token`` or the header
    ``X-CSRF-Token`` must hold the session's token (403 naming it otherwise); without a session the
    request goes to the login page like :func:`require_user`."""
    web_auth(request)
    if await current_user(request) is None:
        raise LoginRequired("/")
    _check_csrf(await _sent_csrf_token(request), csrf_token(request))


async def require_login_form_csrf(request: Request) -> None:
    """The login form's check: its token is tied to the login cookie, as there is no session yet."""
    auth = web_auth(request)
    sent = await _sent_csrf_token(request)
    login_id = auth.cookie_value(request, LOGIN_COOKIE, auth.login_signer)
    _check_csrf(sent, auth.token_for("login", login_id) if login_id else None)


def template_context(request: Request, **extra) -> dict:
    """What every page template gets: ``request``, ``user`` (or None) and ``csrf_token``."""
    return {"request": request, "user": getattr(request.state, _USER, None), "csrf_token": csrf_token(request), **extra}


def render(request: Request, template: str, status_code: int = 200, **extra) -> HTMLResponse:
    """A page from ``web/templates`` with :func:`template_context` (call :func:`current_user` first)."""
    return TEMPLATES.TemplateResponse(request, template, template_context(request, **extra), status_code=status_code)


def login_redirect(next_path: str, htmx: bool) -> Response:
    """Where an unauthenticated request goes: 303 to the login page; HTMX gets 401 + ``HX-Redirect``."""
    target = "/login" if next_path == "/" else f"/login?next={quote(next_path, safe='/')}"
    if htmx:
        return Response(status_code=401, headers={"HX-Redirect": target, "Cache-Control": "no-store"})
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on HTML and on whatever a session saw: the back button after
    logout must not show data from the browser's cache."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                lowered = [(name.lower(), value) for name, value in headers]
                html = any(name == b"content-type" and value.startswith(b"text/html") for name, value in lowered)
                authenticated = (scope.get("state") or {}).get(_USER) is not None
                if (html or authenticated) and all(name != b"cache-control" for name, _value in lowered):
                    headers.append((b"cache-control", b"no-store"))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)


def install_web_auth(app, settings: Settings) -> None:
    """Add login, logout, the OpenID Connect callback and the session plumbing when ``web.enabled``."""
    if not settings.web.enabled:
        return
    from ansible_collections.quadstats.stack.services.backend.web import login  # noqa: PLC0415 - routes need this module

    app.state.web_auth = WebAuth(settings.web, lambda: app.state.pool, app.state.clock)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired):
        return login_redirect(exc.next_path, request.headers.get("HX-Request") == "true")

    app.include_router(login.router)
    app.add_middleware(NoStoreMiddleware)
