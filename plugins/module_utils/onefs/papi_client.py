# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OneFS Platform API client: the I/O half of the OneFS core (standard library only).

Session auth (POST /session/1/session → 201 with ``isisessid`` and ``isicsrf`` cookies; every
later request sends the cookie, ``X-CSRF-Token`` and ``Referer``; replacement cookies are
honoured; proactive re-login before ``timeout_absolute``; one re-login on 401; logout on close)
or basic auth. TLS verification is on by default (``ca_path`` for a private CA, explicit
opt-out). Bounded retries with exponential backoff on connection errors and 502/503/504.

What the client learns about the cluster (identity and node map, key metadata, unknown keys)
lives for ``refresh_interval`` seconds of ``clock`` and is dropped at once when an answer says the
cluster changed (a known key rejected, an endpoint gone); :attr:`PapiClient.generation` counts
those refreshes so the sampler can drop what it derived from them.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import socket
import ssl
import time
from urllib.parse import quote

from ansible_collections.quadstats.stack.plugins.module_utils.errors import (
    KIND_API,
    KIND_AUTHENTICATION,
    KIND_MALFORMED_RESPONSE,
    KIND_NOT_FOUND,
    KIND_PERMISSION,
    KIND_TIMEOUT,
    KIND_TLS,
    KIND_UNREACHABLE,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs import metadata as md
from ansible_collections.quadstats.stack.plugins.module_utils.onefs import query
from ansible_collections.quadstats.stack.plugins.module_utils.onefs import quotas as qt
from ansible_collections.quadstats.stack.plugins.module_utils.onefs import summary as sm
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import (
    OneFSError,
    auth_failed_message,
    close_matches,
    forbidden_message,
    timeout_message,
    tls_failed_message,
    unreachable_message,
)

LOGGER_NAME = "quadstats.onefs"

# The one table of the OneFS connection options. The modules' argument spec, the lookup's options,
# the client's defaults below and (checked by tests/unit/onefs/test_onefs_docs.py) the doc
# fragment plugins/doc_fragments/onefs.py all follow it. ``env`` names the environment variable
# a module falls back to and the lookup reads.
CONNECTION_OPTIONS = {
    "host": {"type": "str", "required": True, "aliases": ["onefs_host", "hostname"], "env": "ONEFS_HOST"},
    "port": {"type": "int", "default": 8080, "env": "ONEFS_PORT"},
    "username": {"type": "str", "required": True, "env": "ONEFS_USERNAME"},
    "password": {"type": "str", "required": True, "no_log": True, "env": "ONEFS_PASSWORD"},
    "auth": {"type": "str", "default": "session", "choices": ["session", "basic"], "env": "ONEFS_AUTH"},
    "validate_certs": {"type": "bool", "default": True, "env": "ONEFS_VALIDATE_CERTS"},
    "ca_path": {"type": "path", "env": "ONEFS_CA_PATH"},
    "timeout": {"type": "float", "default": 30.0, "env": "ONEFS_TIMEOUT"},
    "retries": {"type": "int", "default": 3, "env": "ONEFS_RETRIES"},
}
# Options a module falls back to from its environment (what an ad-hoc user should not type).
MODULE_ENV_FALLBACK = ("host", "username", "password")
DEFAULTS = {name: spec.get("default") for name, spec in CONNECTION_OPTIONS.items()}
# How long what the client learned about the cluster is trusted (seconds).
DEFAULT_REFRESH_INTERVAL = 300.0

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


def _set_cookies(headers):
    """``{name: value}`` of the ``Set-Cookie`` headers of a response (``http.client.HTTPMessage``),
    attributes dropped."""
    cookies = {}
    for value in headers.get_all("Set-Cookie") or ():
        cname, _sep, cval = value.split(";", 1)[0].partition("=")
        cookies[cname.strip()] = cval.strip()
    return cookies


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
        port=DEFAULTS["port"],
        *,
        username=None,
        password=None,
        auth=DEFAULTS["auth"],
        validate_certs=DEFAULTS["validate_certs"],
        ca_path=None,
        timeout=DEFAULTS["timeout"],
        connect_timeout=None,
        retries=DEFAULTS["retries"],
        backoff=0.5,
        max_url_length=query.DEFAULT_MAX_URL_LENGTH,
        relogin_margin=60.0,
        refresh_interval=DEFAULT_REFRESH_INTERVAL,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        if auth not in ("session", "basic"):
            raise ValueError(f"auth must be 'session' or 'basic', got {auth!r}")
        if not host:
            raise ValueError("host is required")
        if float(refresh_interval) <= 0:
            raise ValueError(f"refresh_interval must be a positive number of seconds, got {refresh_interval!r}")
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
        self.max_url_length = self._max_url_length = int(max_url_length)
        self.relogin_margin = float(relogin_margin)
        self.refresh_interval = float(refresh_interval)
        self.clock = clock
        self._sleep = sleep
        self._log = logging.getLogger(LOGGER_NAME)
        self._conn = None
        self._context = None
        self._session = None  # {"isisessid", "isicsrf", "started", "timeout_absolute"}
        # What the client learned about the cluster; trusted until ``_learned_at + refresh_interval``.
        self._meta = {}
        self._unknown = set()
        self._all_keys_loaded = False
        self._identity = None
        self._learned_at = None
        self.generation = 0
        self._quota_path = None  # the quota API version this cluster answers (learned once)
        self._plans = {}  # request plans of recent key lists (a collector asks for the same keys every cycle)
        self._answers = {}  # key tuple -> (what was learned then, key_metadata's answer)
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
        """One HTTP exchange with bounded retries. Returns (status, headers (an ``HTTPMessage``), body bytes)."""
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
                resp_headers = resp.msg  # parsed only when a session cookie may be in it
                if resp.will_close:
                    self._drop_connection()
            except ssl.SSLCertVerificationError as exc:
                self._drop_connection()
                raise OneFSError(
                    tls_failed_message(self.host, self.port, exc.verify_message or str(exc)), kind=KIND_TLS
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if isinstance(exc, ssl.SSLError) and not isinstance(exc, _SSL_CONNECTION_ERRORS):
                    raise OneFSError(
                        tls_failed_message(self.host, self.port, exc.reason or str(exc)), kind=KIND_TLS
                    ) from None
                if reused and isinstance(exc, _STALE_CONNECTION_ERRORS):
                    # The server closed an idle keep-alive connection: reconnect once, not a retry.
                    continue
                if attempt >= self.retries:
                    if isinstance(exc, (socket.timeout, TimeoutError)):
                        raise OneFSError(
                            timeout_message(self.host, self.port, self.read_timeout), kind=KIND_TIMEOUT
                        ) from None
                    raise OneFSError(
                        unreachable_message(self.host, self.port, self._reason(exc)), kind=KIND_UNREACHABLE
                    ) from None
                self._log.debug("%s %s:%s failed (%s), retrying", method, self.host, self.port, self._reason(exc))
                self._sleep(self.backoff * (2**attempt))
                attempt += 1
                continue
            if status in RETRY_STATUSES and attempt < self.retries:
                self._log.debug("%s %s:%s answered HTTP %s, retrying", method, self.host, self.port, status)
                self._sleep(self.backoff * (2**attempt))
                attempt += 1
                continue
            return status, resp_headers, data

    def _reason(self, exc):
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return "timeout"
        strerror = getattr(exc, "strerror", None)
        return exc.__class__.__name__ + (": " + strerror if strerror else "")

    # ---------------------------------------------------------------- auth
    def _update_cookies(self, headers):
        """Honour replacement session cookies (OneFS 9.3+ sends one before the inactivity timeout)."""
        if self._session is None:
            return
        for name, value in _set_cookies(headers).items():
            if name in ("isisessid", "isicsrf") and value:
                self._session[name] = value

    def login(self):
        body = json.dumps({"username": self.username, "password": self._password, "services": ["platform"]})
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Referer": self.referer}
        status, resp_headers, data = self._send("POST", SESSION_PATH, body, headers)
        self.logins += 1
        if status in (401, 403):
            raise OneFSError(auth_failed_message(self.username, self.host, self.port), status, KIND_AUTHENTICATION)
        if status not in (200, 201):
            text, _code = _error_text(data)
            raise OneFSError(
                f"OneFS session login at {self.host}:{self.port} failed with HTTP {status}: {text}", status, KIND_API
            )
        cookies = _set_cookies(resp_headers)
        if "isisessid" not in cookies:
            raise OneFSError(
                f"OneFS session login at {self.host}:{self.port} returned no isisessid cookie",
                kind=KIND_MALFORMED_RESPONSE,
            )
        try:
            info = json.loads(data.decode("utf-8")) if data else {}
        except ValueError:
            info = {}
        self._session = {
            "isisessid": cookies["isisessid"],
            "isicsrf": cookies.get("isicsrf", ""),
            "started": self.clock(),
            "timeout_absolute": float(info.get("timeout_absolute") or 14400),
        }
        self._log.debug("logged in to %s:%s as %s", self.host, self.port, self.username)

    def logout(self):
        if self._session is None:
            return
        headers = self._auth_headers()
        self._session = None
        with contextlib.suppress(OneFSError):
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
            age = self.clock() - self._session["started"]
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
                raise OneFSError(auth_failed_message(self.username, self.host, self.port), status, KIND_AUTHENTICATION)
            if status == 403:
                raise OneFSError(
                    forbidden_message(self.username, self.host, self.port, target), status, KIND_PERMISSION
                )
            if status >= 300:
                text, code = _error_text(data)
                return status, None, text, code
            try:
                return status, json.loads(data.decode("utf-8")), None, None
            except ValueError as exc:
                raise OneFSError(
                    f"OneFS PAPI at {self.host}:{self.port} returned malformed JSON for "
                    f"{target.split('?', 1)[0]} ({exc})",
                    kind=KIND_MALFORMED_RESPONSE,
                ) from None

    def get(self, target):
        status, data, text, code = self.get_raw(target)
        if status == 404:
            # An endpoint every cluster serves is gone: the node answering may have changed.
            self.invalidate(f"HTTP 404 for {target.split('?', 1)[0]}")
        if data is None:
            raise OneFSError(
                f"OneFS PAPI at {self.host}:{self.port}: GET {target.split('?', 1)[0]} failed with "
                f"HTTP {status} {code or ''}: {text}",
                status,
                KIND_API,
            )
        return data

    # ---------------------------------------------------------------- endpoints
    # ---------------------------------------------------------------- what the client learned
    def invalidate(self, reason):
        """Forget identity, node map, key metadata, unknown keys and the URL budget: the cluster changed."""
        if self._learned_at is None and self._identity is None and not self._meta and not self._unknown:
            return
        self._log.info("OneFS %s:%s: refreshing cluster identity and key metadata (%s)", self.host, self.port, reason)
        self._identity = None
        self._meta = {}
        self._unknown = set()
        self._all_keys_loaded = False
        self._learned_at = None
        self.max_url_length = self._max_url_length  # a URL budget halved after HTTP 414 is learned again
        self.generation += 1

    def _expire(self):
        """Drop what was learned once ``refresh_interval`` has passed (the scheduled refresh)."""
        if self._learned_at is None:
            self._learned_at = self.clock()
        elif self.clock() - self._learned_at >= self.refresh_interval:
            self.invalidate(f"older than {self.refresh_interval:g} s")
            self._learned_at = self.clock()

    # ---------------------------------------------------------------- endpoints
    def cluster_identity(self, refresh=False):
        """Name, version and node map (LNN, devid, up/down); cached until the next refresh."""
        self._expire()
        if self._identity is None or refresh:
            self._identity = md.parse_cluster_config(self.get(CONFIG_PATH))
        return self._identity

    def load_all_keys(self):
        """Page through /platform/1/statistics/keys once per refresh and cache every key's metadata."""
        self._expire()
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
        """Metadata for ``keys`` (cached until the next refresh). Returns (metas, unknown keys, suggestions);
        ``metas`` may be the same dict as the last call's for the same keys: do not change it."""
        self._expire()
        wanted = tuple(keys)
        learned = (self.generation, len(self._meta), len(self._unknown), self._all_keys_loaded)
        answer = self._answers.get(wanted)
        if answer is not None and answer[0] == learned:  # nothing learned since: the same answer
            metas, unknown, hints = answer[1]
            return metas, list(unknown), {k: list(v) for k, v in hints.items()}
        result = self._key_metadata(keys)
        if len(self._answers) > 64:
            self._answers.clear()
        learned = (self.generation, len(self._meta), len(self._unknown), self._all_keys_loaded)
        self._answers[wanted] = (learned, (result[0], list(result[1]), {k: list(v) for k, v in result[2].items()}))
        return result

    def _key_metadata(self, keys):
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
                        raise OneFSError(
                            f"OneFS PAPI at {self.host}:{self.port}: metadata for {key} failed with "
                            f"HTTP {status}: {text}",
                            status,
                            KIND_API,
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
                    raise OneFSError(
                        f"OneFS PAPI at {self.host}:{self.port}: statistics/current response has no 'stats' list",
                        kind=KIND_MALFORMED_RESPONSE,
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
                if any(k in self._meta for k in bad):
                    # Metadata said these keys exist: what the client knows is out of date.
                    self.invalidate("statistics/current rejected known key(s) " + ", ".join(bad))
                self._unknown.update(bad)
                rest = [k for k in batch if k not in bad]
                if rest:
                    pending[:0] = query.plan_batches(rest, self.max_url_length, devid, degraded, show_nodes)
                continue
            if status == 404:
                self.invalidate("HTTP 404 for statistics/current")
            raise OneFSError(
                f"OneFS PAPI at {self.host}:{self.port}: statistics/current failed with "
                f"HTTP {status} {code or ''}: {text}",
                status,
                KIND_API,
            )
        return rows, rejected

    def summary(self, kind):
        """The parsed answer of ``/platform/3/statistics/summary/<kind>`` (protocol, client, drive)."""
        target = sm.summary_target(kind)
        status, data, text, code = self.get_raw(target)
        if data is None:
            # Not a sign the cluster changed (older releases lack an endpoint): no refresh.
            kind_of = KIND_NOT_FOUND if status == 404 else KIND_API
            raise OneFSError(
                f"OneFS PAPI at {self.host}:{self.port}: GET {target.split('?', 1)[0]} failed with "
                f"HTTP {status} {code or ''}: {text}",
                status,
                kind_of,
            )
        sm.summary_items(kind, data)
        return data

    def quotas(self, types=qt.DEFAULT_QUOTA_TYPES, limit=qt.PAGE_LIMIT):
        """Every quota of ``types``, paged with ``resume``: ``/platform/8`` (usage with ready flags),
        ``/platform/1`` when the cluster does not know version 8."""
        for quota_type in types:
            if quota_type not in qt.QUOTA_TYPES:
                raise ValueError(f"quota type must be one of {', '.join(qt.QUOTA_TYPES)}, got {quota_type!r}")
        out = []
        for quota_type in types:
            paths = [self._quota_path] if self._quota_path else list(qt.QUOTA_PATHS)
            target = None
            while paths:
                path = paths.pop(0)
                target = qt.first_page_target(path, quota_type, limit)
                status, data, text, code = self.get_raw(target)
                if data is not None:
                    self._quota_path = path
                    break
                if status != 404 or not paths:
                    raise OneFSError(
                        f"OneFS PAPI at {self.host}:{self.port}: GET {path} failed with HTTP {status} "
                        f"{code or ''}: {text}",
                        status,
                        KIND_NOT_FOUND if status == 404 else KIND_API,
                    )
            seen = set()
            while True:
                items, resume = qt.parse_quota_page(data)
                out.extend(items)
                if not resume:
                    break
                if resume in seen:
                    raise OneFSError(
                        f"OneFS PAPI at {self.host}:{self.port}: quota list repeated a resume token",
                        kind=KIND_MALFORMED_RESPONSE,
                    )
                seen.add(resume)
                data = self.get(qt.resume_target(self._quota_path, resume))
        return out
