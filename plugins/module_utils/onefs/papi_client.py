# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OneFS Platform API client: the I/O half of the OneFS core (standard library only).

Session auth (POST /session/1/session → 201 with ``isisessid`` and ``isicsrf`` cookies; every
later request sends the cookie, ``X-CSRF-Token`` and ``Referer``; replacement cookies are
honoured; proactive re-login before ``timeout_absolute``; one re-login on 401; logout on close)
or basic auth. TLS verification is on by default (``ca_path`` for a private CA, explicit
opt-out). Bounded retries with exponential backoff on connection errors and 502/503/504.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import time

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover
    from urllib import quote  # type: ignore[no-redef]

import contextlib

from ansible_collections.quadstats.stack.plugins.module_utils.onefs import metadata as md
from ansible_collections.quadstats.stack.plugins.module_utils.onefs import query
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import (
    OneFSAPIError,
    OneFSAuthError,
    OneFSConnectionError,
    OneFSPrivilegeError,
    OneFSResponseError,
    OneFSTLSError,
    auth_failed_message,
    close_matches,
    forbidden_message,
    tls_failed_message,
    unreachable_message,
)

SESSION_PATH = "/session/1/session"
CONFIG_PATH = "/platform/1/cluster/config"
KEYS_PATH = "/platform/1/statistics/keys"
RETRY_STATUSES = frozenset((502, 503, 504))
# Fetch metadata key by key up to this many keys; beyond, page through the whole key list.
PER_KEY_METADATA_LIMIT = 16
KEY_LIST_PAGE = 1000


# Failures of an established connection, not of TLS verification or negotiation.
_SSL_CONNECTION_ERRORS = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    BrokenPipeError,
    ConnectionResetError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


class _Connection(http.client.HTTPSConnection):
    """HTTPS connection with separate connect and read timeouts."""

    def __init__(self, host, port, context, connect_timeout, read_timeout):
        super().__init__(host, port, timeout=connect_timeout, context=context)
        self._read_timeout = read_timeout

    def connect(self):
        super().connect()
        self.sock.settimeout(self._read_timeout)


def _error_text(body):
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip(), None
    errors = data.get("errors") if isinstance(data, dict) else None
    if errors and isinstance(errors, list) and isinstance(errors[0], dict):
        first = errors[0]
        return "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict)), first.get("code")
    return str(data)[:200], None


class PapiClient:
    """One PAPI endpoint. Not thread-safe; use one client per collecting thread."""

    def __init__(
        self,
        host,
        port=8080,
        *,
        username=None,
        password=None,
        auth="session",
        validate_certs=True,
        ca_path=None,
        timeout=30.0,
        connect_timeout=None,
        retries=3,
        backoff=0.5,
        max_url_length=query.DEFAULT_MAX_URL_LENGTH,
        relogin_margin=60.0,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        if auth not in ("session", "basic"):
            raise ValueError(f"auth must be 'session' or 'basic', got {auth!r}")
        if not host:
            raise ValueError("host is required")
        self.host = host
        self.port = int(port)
        self.username = username or ""
        self._password = password or ""
        self.auth = auth
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.read_timeout = float(timeout)
        self.connect_timeout = float(connect_timeout if connect_timeout is not None else min(float(timeout), 10.0))
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.max_url_length = int(max_url_length)
        self.relogin_margin = float(relogin_margin)
        self._clock = clock
        self._sleep = sleep
        self._conn = None
        self._context = None
        self._session = None  # {"isisessid", "isicsrf", "started", "timeout_absolute"}
        self._meta = {}
        self._unknown = set()
        self._all_keys_loaded = False
        self._identity = None
        self._plans = {}  # request plans of recent key lists (a collector asks for the same keys every cycle)
        self.requests = 0
        self.logins = 0
        self.referer = f"https://{host}:{self.port}"

    # ---------------------------------------------------------------- transport
    def _ssl_context(self):
        if self._context is None:
            if self.validate_certs:
                ctx = ssl.create_default_context(cafile=self.ca_path or None)
            else:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._context = ctx
        return self._context

    def _drop_connection(self):
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None

    def _send(self, method, target, body, headers):
        """One HTTP exchange with bounded retries. Returns (status, headers, body bytes)."""
        attempt = 0
        while True:
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = _Connection(
                        self.host, self.port, self._ssl_context(), self.connect_timeout, self.read_timeout
                    )
                self.requests += 1
                self._conn.request(method, target, body=body, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
                status = resp.status
                resp_headers = resp.getheaders()
                if resp.will_close:
                    self._drop_connection()
            except ssl.SSLCertVerificationError as exc:
                self._drop_connection()
                raise OneFSTLSError(tls_failed_message(self.host, self.port, exc.verify_message or str(exc))) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if isinstance(exc, ssl.SSLError) and not isinstance(exc, _SSL_CONNECTION_ERRORS):
                    raise OneFSTLSError(tls_failed_message(self.host, self.port, exc.reason or str(exc))) from None
                if reused and isinstance(exc, _STALE_CONNECTION_ERRORS):
                    # The server closed an idle keep-alive connection: reconnect once, not a retry.
                    continue
                if attempt >= self.retries:
                    raise OneFSConnectionError(unreachable_message(self.host, self.port, self._reason(exc))) from None
                self._sleep(self.backoff * (2**attempt))
                attempt += 1
                continue
            if status in RETRY_STATUSES and attempt < self.retries:
                self._sleep(self.backoff * (2**attempt))
                attempt += 1
                continue
            return status, resp_headers, data

    def _reason(self, exc):
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return f"no answer within {self.read_timeout:g} s (timeout)"
        strerror = getattr(exc, "strerror", None)
        return exc.__class__.__name__ + (": " + strerror if strerror else "")

    # ---------------------------------------------------------------- auth
    def _update_cookies(self, headers):
        if self._session is None:
            return
        for name, value in headers:
            if name.lower() != "set-cookie":
                continue
            pair = value.split(";", 1)[0]
            cname, _sep, cval = pair.partition("=")
            cname = cname.strip()
            if cname in ("isisessid", "isicsrf") and cval:
                self._session[cname] = cval.strip()

    def login(self):
        body = json.dumps({"username": self.username, "password": self._password, "services": ["platform"]})
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Referer": self.referer}
        status, resp_headers, data = self._send("POST", SESSION_PATH, body, headers)
        self.logins += 1
        if status in (401, 403):
            raise OneFSAuthError(auth_failed_message(self.username, self.host, self.port), status)
        if status not in (200, 201):
            text, _code = _error_text(data)
            raise OneFSAPIError(
                f"OneFS session login at {self.host}:{self.port} failed with HTTP {status}: {text}", status
            )
        cookies = {}
        for name, value in resp_headers:
            if name.lower() == "set-cookie":
                cname, _sep, cval = value.split(";", 1)[0].partition("=")
                cookies[cname.strip()] = cval.strip()
        if "isisessid" not in cookies:
            raise OneFSResponseError(f"OneFS session login at {self.host}:{self.port} returned no isisessid cookie")
        try:
            info = json.loads(data.decode("utf-8")) if data else {}
        except ValueError:
            info = {}
        self._session = {
            "isisessid": cookies["isisessid"],
            "isicsrf": cookies.get("isicsrf", ""),
            "started": self._clock(),
            "timeout_absolute": float(info.get("timeout_absolute") or 14400),
        }

    def logout(self):
        if self._session is None:
            return
        headers = self._auth_headers()
        self._session = None
        with contextlib.suppress(OneFSConnectionError, OneFSTLSError):
            self._send("DELETE", SESSION_PATH, None, headers)

    def close(self):
        try:
            if self.auth == "session":
                self.logout()
        finally:
            self._drop_connection()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _auth_headers(self):
        headers = {"Accept": "application/json"}
        if self.auth == "basic":
            token = base64.b64encode((f"{self.username}:{self._password}").encode()).decode("ascii")
            headers["Authorization"] = "Basic " + token
        elif self._session is not None:
            cookie = "isisessid=" + self._session["isisessid"]
            if self._session.get("isicsrf"):
                cookie += "; isicsrf=" + self._session["isicsrf"]
                headers["X-CSRF-Token"] = self._session["isicsrf"]
            headers["Cookie"] = cookie
            headers["Referer"] = self.referer
        return headers

    def _ensure_session(self):
        if self.auth != "session":
            return
        if self._session is not None:
            age = self._clock() - self._session["started"]
            if age >= self._session["timeout_absolute"] - self.relogin_margin:
                self.logout()
        if self._session is None:
            self.login()

    # ---------------------------------------------------------------- requests
    def get_raw(self, target):
        """GET a target; returns (status, parsed JSON or None, error text, error code)."""
        relogged = False
        while True:
            self._ensure_session()
            status, headers, data = self._send("GET", target, None, self._auth_headers())
            self._update_cookies(headers)
            if status == 401:
                if self.auth == "session" and not relogged:
                    relogged = True
                    self._session = None
                    continue
                raise OneFSAuthError(auth_failed_message(self.username, self.host, self.port), status)
            if status == 403:
                raise OneFSPrivilegeError(forbidden_message(self.username, self.host, self.port, target), status)
            if status >= 300:
                text, code = _error_text(data)
                return status, None, text, code
            try:
                return status, json.loads(data.decode("utf-8")), None, None
            except ValueError as exc:
                raise OneFSResponseError(
                    f"OneFS PAPI at {self.host}:{self.port} returned malformed JSON for "
                    f"{target.split('?', 1)[0]} ({exc})"
                ) from None

    def get(self, target):
        status, data, text, code = self.get_raw(target)
        if data is None:
            raise OneFSAPIError(
                f"OneFS PAPI at {self.host}:{self.port}: GET {target.split('?', 1)[0]} failed with "
                f"HTTP {status} {code or ''}: {text}",
                status,
            )
        return data

    # ---------------------------------------------------------------- endpoints
    def cluster_identity(self, refresh=False):
        if self._identity is None or refresh:
            self._identity = md.parse_cluster_config(self.get(CONFIG_PATH))
        return self._identity

    def load_all_keys(self):
        """Page through /platform/1/statistics/keys once and cache every key's metadata."""
        if self._all_keys_loaded:
            return self._meta
        target = f"{KEYS_PATH}?limit={KEY_LIST_PAGE}"
        while True:
            metas, resume = md.parse_key_list(self.get(target))
            self._meta.update(metas)
            if not resume:
                break
            target = KEYS_PATH + "?resume=" + quote(str(resume), safe="")
        self._all_keys_loaded = True
        self._unknown = {k for k in self._unknown if k not in self._meta}
        return self._meta

    def key_metadata(self, keys):
        """Metadata for ``keys`` (cached). Returns (metas, unknown keys, suggestions)."""
        missing = [k for k in keys if k not in self._meta and k not in self._unknown]
        if missing and not self._all_keys_loaded:
            if len(missing) > PER_KEY_METADATA_LIMIT:
                self.load_all_keys()
            else:
                for key in missing:
                    status, data, text, _code = self.get_raw(KEYS_PATH + "/" + quote(key, safe="._-"))
                    if data is not None and data.get("keys"):
                        metas, _resume = md.parse_key_list(data)
                        self._meta.update(metas)
                    elif status in (400, 404) or data is not None:
                        self._unknown.add(key)
                    else:
                        raise OneFSAPIError(
                            f"OneFS PAPI at {self.host}:{self.port}: metadata for {key} failed with "
                            f"HTTP {status}: {text}",
                            status,
                        )
        if self._all_keys_loaded:
            self._unknown.update(k for k in keys if k not in self._meta)
        unknown = [k for k in keys if k in self._unknown]
        hints = {}
        if unknown:
            self.load_all_keys()
            hints = {k: close_matches(k, self._meta) for k in unknown}
        return {k: self._meta[k] for k in keys if k in self._meta}, unknown, hints

    def current(self, keys, devid="all", degraded=True, show_nodes=True):
        """Rows of statistics/current for ``keys``, batched by URL length.

        Returns (rows, rejected keys). A key the server rejects as invalid (HTTP 400 for the
        whole request) is removed and the rest of its batch re-sent; an HTTP 414 halves the
        URL budget and re-splits the batch.
        """
        rows = []
        rejected = []
        plan_id = (tuple(keys), self.max_url_length, devid, degraded, show_nodes)
        plan = self._plans.get(plan_id)
        if plan is None:
            if len(self._plans) > 64:
                self._plans.clear()
            plan = self._plans[plan_id] = query.plan_batches(keys, self.max_url_length, devid, degraded, show_nodes)
        pending = list(plan)
        while pending:
            target, batch = pending.pop(0)
            status, data, text, code = self.get_raw(target)
            if data is not None:
                stats = data.get("stats") if isinstance(data, dict) else None
                if not isinstance(stats, list):
                    raise OneFSResponseError(
                        f"OneFS PAPI at {self.host}:{self.port}: statistics/current response has no 'stats' list"
                    )
                rows.extend(stats)
                continue
            if status == 414 and self.max_url_length // 2 >= query.MIN_URL_LENGTH:
                if len(target) <= self.max_url_length:  # planned with the current budget: halve it
                    self.max_url_length //= 2
                pending[:0] = query.plan_batches(batch, self.max_url_length, devid, degraded, show_nodes)
                continue
            bad = [k for k in query.invalid_keys_from_message(text) if k in batch]
            if status == 400 and bad:
                rejected.extend(bad)
                self._unknown.update(bad)
                rest = [k for k in batch if k not in bad]
                if rest:
                    pending[:0] = query.plan_batches(rest, self.max_url_length, devid, degraded, show_nodes)
                continue
            raise OneFSAPIError(
                f"OneFS PAPI at {self.host}:{self.port}: statistics/current failed with "
                f"HTTP {status} {code or ''}: {text}",
                status,
            )
        return rows, rejected
