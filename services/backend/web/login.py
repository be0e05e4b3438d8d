# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Login and logout pages: the local admin (argon2) and OpenID Connect (``web.oidc``).

Routes: ``GET/POST /login``, ``GET /login/oidc`` (to the issuer), ``GET /auth/callback`` (back from
it), ``POST /logout``, ``GET /account`` and ``POST /account/logout-others``. A wrong user name and
a wrong password get the same answer, after the same work (a hash is verified either way); too many
failures from one client address lock it out for a while (per replica: kept in memory).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

import argon2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ansible_collections.quadstats.stack.services.backend.settings import WebSettings, admin_first_password, session_key
from ansible_collections.quadstats.stack.services.backend.web.forms import read_form
from ansible_collections.quadstats.stack.services.backend.web.oidc import LoginStart, OidcClient, OidcError
from ansible_collections.quadstats.stack.services.backend.web.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    User,
    current_user,
    render,
    require_csrf,
    require_login_form_csrf,
    safe_next,
    web_auth,
)

log = logging.getLogger("quadstats.backend")
router = APIRouter(include_in_schema=False)
OIDC_COOKIE = "quadstats_oidc"
OIDC_MAX_SECONDS = 600  # from the click on the button to the callback
# RFC 9106's second recommended profile (64 MiB, 3 passes): a login costs a fraction of a second.
HASHER = argon2.PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
_DUMMY_HASH = HASHER.hash("quadstats: a hash to verify against for unknown users")
WRONG_CREDENTIALS = "Wrong user name or password."
MAX_USERNAME = 64  # web.admin_username's limit: anything longer is wrong without a look-up


# -- local accounts ------------------------------------------------------------------------------------
async def set_password(conn, username: str, password: str) -> int:
    """Store ``username``'s argon2 hash and end its sessions; returns how many sessions ended."""
    if not password:
        raise ValueError("the password must not be empty")
    hashed = await asyncio.to_thread(HASHER.hash, password)
    await conn.execute(
        "INSERT INTO web_users (username, password_hash) VALUES (%s, %s)"
        " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, updated_at = now()",
        (username, hashed),
    )
    cur = await conn.execute("DELETE FROM web_sessions WHERE user_id = %s", (f"local:{username}",))
    return cur.rowcount


async def _stored_hash(conn, web: WebSettings, username: str) -> str | None:
    cur = await conn.execute("SELECT password_hash FROM web_users WHERE username = %s", (username,))
    row = await cur.fetchone()
    if row is None and username == web.admin_username and web.admin_password_file is not None:
        # The first password comes from the file the role writes; later changes go through the CLI.
        hashed = await asyncio.to_thread(HASHER.hash, admin_first_password(web))
        await conn.execute(
            "INSERT INTO web_users (username, password_hash) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (username, hashed),
        )
        cur = await conn.execute("SELECT password_hash FROM web_users WHERE username = %s", (username,))
        row = await cur.fetchone()
    return row[0] if row else None


async def check_local(conn, web: WebSettings, username: str, password: str) -> bool:
    stored = await _stored_hash(conn, web, username)
    try:
        ok = await asyncio.to_thread(HASHER.verify, stored or _DUMMY_HASH, password)
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHash:
        log.error("web_users: the stored hash of %r is not an argon2 hash", username)
        return False
    if stored is None:
        return False
    if ok and HASHER.check_needs_rehash(stored):  # older parameters: store a hash with today's
        rehashed = await asyncio.to_thread(HASHER.hash, password)
        await conn.execute("UPDATE web_users SET password_hash = %s WHERE username = %s", (rehashed, username))
    return ok


class LoginThrottle:
    """At most ``max_failures`` failed logins per client address within ``window`` seconds."""

    def __init__(self, max_failures: int, window: float, max_addresses: int = 10_000) -> None:
        self.max_failures, self.window, self.max_addresses = max_failures, window, max_addresses
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def locked_for(self, address: str, now: float) -> float:
        """Seconds until ``address`` may try again (0: it may now)."""
        times = self._recent(address, now)
        return times[0] + self.window - now if len(times) >= self.max_failures else 0.0

    def failed(self, address: str, now: float) -> None:
        if len(self._failures) >= self.max_addresses and address not in self._failures:
            self._failures.clear()  # bounded memory beats perfect bookkeeping under a spray of addresses
        times = self._recent(address, now)
        times.append(now)
        self._failures[address] = times

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


@dataclass
class LoginMachinery:
    """What the login routes of one app keep: the throttle, the OpenID client, the flow's cookie signer."""

    throttle: LoginThrottle
    oidc: OidcClient | None
    oidc_cookie: URLSafeTimedSerializer


def _machinery(request: Request) -> LoginMachinery:
    """The app's :class:`LoginMachinery`, made on first use."""
    found = getattr(request.app.state, "web_login", None)
    if found is None:
        web = web_auth(request).web
        found = request.app.state.web_login = LoginMachinery(
            LoginThrottle(web.login_max_failures, web.login_lockout_minutes * 60),
            OidcClient(web) if web.oidc else None,
            URLSafeTimedSerializer(session_key(web), salt="quadstats.web.oidc"),
        )
    return found


def _login_page(request: Request, status_code: int = 200, **extra):
    """The login page (also for refusals); it carries the login form's CSRF token and cookie."""
    auth = web_auth(request)
    _login_id, cookie = auth.login_id(request)
    web = auth.web
    response = render(
        request,
        "login.html",
        status_code,
        next=safe_next(extra.pop("next", None) or request.query_params.get("next")),
        local_login=web.admin_password_file is not None,
        oidc_label=web.oidc.button_label if web.oidc else None,
        **extra,
    )
    if cookie:
        auth.set_cookie(request, response, LOGIN_COOKIE, cookie, None)
    return response


@router.get("/login")
async def login_form(request: Request):
    user = await current_user(request)
    if user is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), 303)
    notice = "You are logged out." if request.query_params.get("logged_out") else None
    return _login_page(request, notice=notice)


@router.post("/login", dependencies=[Depends(require_login_form_csrf)])
async def login_submit(request: Request):
    auth = web_auth(request)
    machinery = _machinery(request)
    form = await read_form(request)
    username, password = form.get("username", "").strip(), form.get("password", "")
    next_path = safe_next(form.get("next"))
    address = request.client.host if request.client else "unknown"
    now = time.monotonic()
    wait = machinery.throttle.locked_for(address, now)
    if wait:
        minutes = max(1, round(wait / 60))
        message = f"Too many failed logins from your address. Try again in {minutes} minute{'s' * (minutes != 1)}."
        return _login_page(request, 429, error=message, username=username, next=next_path)
    if auth.web.admin_password_file is None or not username or not password or len(username) > MAX_USERNAME:
        ok = False
    else:
        async with auth.pool_of().connection() as conn:
            ok = await check_local(conn, auth.web, username, password)
    if not ok:
        machinery.throttle.failed(address, now)
        log.info("web login refused for user %r from %s", username[:64], address)
        return _login_page(request, 401, error=WRONG_CREDENTIALS, username=username[:MAX_USERNAME], next=next_path)
    machinery.throttle.succeeded(address)
    response = RedirectResponse(next_path, 303)
    await auth.start_session(request, response, User(f"local:{username}", None, username, "local"))
    log.info("web login: local user %r from %s", username, address)
    return response


@router.post("/logout", dependencies=[Depends(require_csrf)])
async def logout(request: Request):
    auth = web_auth(request)
    await auth.end_session(request)
    response = RedirectResponse("/login?logged_out=1", 303)
    auth.clear_cookie(request, response, SESSION_COOKIE)
    return response


def _redirect_uri(request: Request) -> str:
    public = request.app.state.settings.public_url  # one setting for every URL users follow
    return f"{public}/auth/callback" if public else str(request.url_for("oidc_callback"))


@router.get("/login/oidc")
async def oidc_start(request: Request):
    machinery = _machinery(request)
    if machinery.oidc is None:
        return _login_page(request, 404, error="Single sign-on is not set up here (web.oidc).")
    try:
        start = await machinery.oidc.begin(_redirect_uri(request))
    except OidcError as exc:
        log.error("web login: %s", exc)
        return _login_page(request, 502, error="The identity provider cannot be reached. Try again later.")
    cookie = machinery.oidc_cookie.dumps(
        [start.state, start.nonce, start.code_verifier, safe_next(request.query_params.get("next"))]
    )
    response = RedirectResponse(start.url, 303)
    web_auth(request).set_cookie(request, response, OIDC_COOKIE, cookie, OIDC_MAX_SECONDS)
    return response


@router.get("/auth/callback", name="oidc_callback")
async def oidc_callback(request: Request):  # noqa: PLR0911 # one answer per way a login ends
    auth, machinery = web_auth(request), _machinery(request)
    params = request.query_params
    client: OidcClient | None = machinery.oidc
    if client is None:
        return _login_page(request, 404, error="Single sign-on is not set up here (web.oidc).")
    try:
        started = machinery.oidc_cookie.loads(request.cookies.get(OIDC_COOKIE, ""), max_age=OIDC_MAX_SECONDS)
        expected_state, nonce, verifier, next_path = started
    except (BadSignature, ValueError, TypeError):
        return _login_page(request, 400, error="The login took too long or began in another browser. Please try again.")
    if params.get("state") != expected_state:  # both are ours or the issuer's echo: no timing secret
        return _login_page(request, 400, error="The login answer does not match this browser. Try again.")
    if params.get("error"):
        log.info("web login: the issuer answered %s: %s", params.get("error"), params.get("error_description", ""))
        return _login_page(request, 403, error=f"The identity provider refused the login ({params['error'][:64]}).")
    if not params.get("code"):
        return _login_page(request, 400, error="The identity provider sent no authorization code.")
    try:
        claims = await client.finish(
            params["code"], _redirect_uri(request), LoginStart("", expected_state, nonce, verifier)
        )
    except OidcError as exc:
        log.error("web login: %s", exc)
        return _login_page(request, exc.status, error=exc.public)
    refusal = client.refusal(claims)
    if refusal:
        log.info("web login refused for %r: %s", claims.get("email"), refusal)
        response = _login_page(request, 403, error=refusal, refused=True)
    else:
        email = claims["email"]
        user = User(f"oidc:{claims['iss']}#{claims['sub']}", email, str(claims.get("name") or email), "oidc")
        response = RedirectResponse(next_path, 303)
        await auth.start_session(request, response, user)
        log.info("web login: %s through %s", email, claims["iss"])
    auth.clear_cookie(request, response, OIDC_COOKIE)
    return response


@router.get("/account")
async def account(request: Request, user: CurrentUser):
    return render(request, "account.html", notice=request.query_params.get("notice"))


@router.post("/account/logout-others", dependencies=[Depends(require_csrf)])
async def logout_others(request: Request, user: CurrentUser):
    ended = await web_auth(request).end_other_sessions(request, user)
    return RedirectResponse(f"/account?notice=Ended+{ended}+other+session{'s' * (ended != 1)}.", 303)
