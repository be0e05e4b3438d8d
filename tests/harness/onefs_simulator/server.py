"""A OneFS Platform API simulator over HTTPS (stdlib http.server + a generated test CA).

Faithful to the facts in docs/onefs.md ("What the simulator models"): session and basic auth
with the CSRF/Referer rules, replacement cookies, absolute/inactivity timeouts, privileges,
cluster identity, key metadata (real key dump), statistics/current with devid/degraded/
show_nodes, the 400-for-the-whole-request rule on invalid keys, the ~8 KB URI limit, and fault
injection (see :class:`Faults`).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import secrets
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from ..certs import make_test_ca, server_names
from .model import ClusterModel, default_nodes, quota_list, summary_values

PRIV_LOGIN = "ISI_PRIV_LOGIN_PAPI"
# A canary password for leak tests: it must never appear in any output of the collection.
DEFAULT_CANARY = "Canary-pw-5e1f0c9d"
PRIV_STATS = "ISI_PRIV_STATISTICS"
ROW_ERROR_TEXT = {
    1: "Not present",
    2: "Not implemented",
    3: "Degraded result, some node input missing",
    4: "Stale value",
    5: "Connection timeout",
    6: "Timeout",
    7: "No history",
    8: "System error",
    9: "Not configured",
    10: "No data",
}


class SimClock:
    """Simulated wall clock: real time plus an offset, or frozen at a start time."""

    def __init__(self, start=None):
        self._frozen = start
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self):
        with self._lock:
            base = self._frozen if self._frozen is not None else time.time()
            return base + self._offset

    def advance(self, seconds):
        with self._lock:
            self._offset += seconds


@dataclass
class Faults:
    """Fault injection. Counters count down per affected request; -1 means 'always'."""

    status_503: int = 0
    drop_connection: int = 0
    force_401: int = 0
    malformed_json: int = 0
    slow_seconds: float = 0.0
    slow_count: int = 0
    max_uri: int = 8192
    row_errors: dict = field(default_factory=dict)  # (key, devid or None for all) -> code
    current_rejects: set = field(default_factory=set)  # known keys statistics/current calls invalid
    value_overrides: dict = field(default_factory=dict)  # (key, devid) -> value


@dataclass
class Session:
    sid: str
    csrf: str
    username: str
    created: float
    inactive_deadline: float | None


class OneFSSimulator:
    def __init__(
        self,
        *,
        seed=0,
        cluster_name="SimCluster",
        nodes=3,
        down=(),
        username="statsreader",
        password="sim-password",  # noqa: S107 - simulator default, not a secret
        privileges=(PRIV_LOGIN, PRIV_STATS),
        host="127.0.0.1",
        port=0,
        start_time=None,
        timeout_absolute=14400,
        timeout_inactive=900,
        replace_window=450,
        cert_dir=None,
        release="v9.5.0.0",
        quota_versions=(1, 8),
        quota_count=None,
    ):
        self.clock = SimClock(start_time)
        self.model = ClusterModel(seed=seed, name=cluster_name, nodes=default_nodes(nodes, down), release=release)
        # PAPI versions that serve /platform/<v>/quota/quotas (OneFS before 8.2 only has 1)
        self.quota_versions = tuple(quota_versions)
        self.quota_count = quota_count
        self.quota_page_limit_max = 1000
        self.username = username
        self.password = password
        self.privileges = set(privileges)
        self.timeout_absolute = timeout_absolute
        self.timeout_inactive = timeout_inactive
        self.replace_window = replace_window
        self.faults = Faults()
        self.sessions = {}
        # (method, path, status, request headers of interest); bounded for long standalone runs
        self.log = collections.deque(maxlen=100_000)
        self.counters = {
            "logins": 0,
            "logouts": 0,
            "replacements": 0,
            "current_requests": 0,
            "summary_requests": 0,
            "quota_requests": 0,
        }
        self._lock = threading.Lock()
        self._tmp = None
        if cert_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="onefs-sim-")
            cert_dir = self._tmp.name
        # The certificate names the loopback and, when bound elsewhere (a target's veth), that address too.
        extra = {"hostnames": (), "ips": ()}
        if host not in ("127.0.0.1", "localhost", "0.0.0.0"):
            extra = server_names(host)
        self.certs = make_test_ca(
            cert_dir, hostnames=("localhost", *extra["hostnames"]), ips=("127.0.0.1", *extra["ips"])
        )
        self.ca_path = self.certs["ca"]
        self._httpd = _QuietServer((host, port), _Handler)
        self._httpd.sim = self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.certs["cert"], self.certs["key"])
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = None

    # ------------------------------------------------------------ lifecycle
    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:  # shutdown() waits for serve_forever(): it would hang on a server never started
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ helpers for tests
    def expire_sessions(self):
        with self._lock:
            self.sessions.clear()

    def set_node_up(self, lnn, is_up):
        with self._lock:
            self.model.set_up(lnn, is_up)

    def change_lnn(self, lnn, new_lnn):
        with self._lock:
            self.model.change_lnn(lnn, new_lnn)

    def statuses(self, path_prefix=""):
        return [entry[2] for entry in self.log if entry[1].startswith(path_prefix)]

    def expected_rows(self, keys, degraded=True):
        """The rows statistics/current would return now (for tests to compare against)."""
        return self.current_rows(keys, self.clock.now(), degraded=degraded, show_nodes=True)

    def current_rows(self, keys, now, degraded=True, show_nodes=True, devids=None):
        rows = []
        model = self.model
        any_down = len(model.up_nodes()) != len(model.nodes)
        for key in keys:
            meta = model.metadata[key]
            _b, stamp = model.bucket(key, now)
            if meta["scope"] == "cluster":
                targets = [(0, None)]
            else:
                targets = [(n.devid, n.lnn) for n in model.up_nodes() if devids is None or n.devid in devids]
            for devid, lnn in targets:
                code = self.faults.row_errors.get((key, devid), self.faults.row_errors.get((key, None)))
                if code is None and devid == 0 and any_down and (meta.get("base_name") or "").startswith("node."):
                    code = 3
                value = self.faults.value_overrides.get((key, devid))
                if value is None:
                    value = model.value(key, devid, now)
                row = {"key": key, "devid": devid}
                if show_nodes and devid:
                    row["node"] = lnn
                row["time"] = int(stamp)
                if code:
                    row["error"] = ROW_ERROR_TEXT.get(code, "Error")
                    row["error_code"] = code
                    if code != 3 or not degraded:
                        value = None
                else:
                    row["error"] = None
                    row["error_code"] = None
                row["value"] = value
                rows.append(row)
        return rows


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Clients that time out or drop the connection are expected (fault tests); stay quiet."""


def _errors(message, code=None):
    err = {"message": message}
    if code:
        err["code"] = code
    return {"errors": [err]}


def _take(faults, name):
    """Consume one unit of a countdown fault; True when it fires."""
    val = getattr(faults, name)
    if val == 0:
        return False
    if val > 0:
        setattr(faults, name, val - 1)
    return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without TCP_NODELAY a keep-alive client waits ~40 ms
    # for the delayed ACK on every request (wall time only; a real OneFS answers promptly).
    disable_nagle_algorithm = True
    server_version = "Apache"
    sys_version = ""

    def log_message(self, format, *args):
        return

    @property
    def sim(self):
        return self.server.sim

    # ------------------------------------------------------------ plumbing
    def _send(self, status, payload=None, headers=(), raw=None):
        sim = self.sim
        if raw is None:
            body = b"" if payload is None else json.dumps(payload).encode()
            control = self.path.startswith("/_sim/")
            if (
                payload is not None
                and not control
                and sim.faults.malformed_json
                and _take(sim.faults, "malformed_json")
            ):
                body = body[: max(1, len(body) // 2)]
        else:
            body = raw
        with sim._lock:
            sim.log.append(
                (
                    self.command,
                    self.path,
                    status,
                    {h: self.headers.get(h) for h in ("Cookie", "X-CSRF-Token", "Referer", "Authorization")},
                )
            )
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if raw is None else "text/html")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _pre(self):
        """Faults common to every request. Returns True when a response was already sent."""
        sim = self.sim
        if self.path.startswith("/_sim/"):
            return False
        faults = sim.faults
        if faults.slow_seconds and _take(faults, "slow_count"):
            time.sleep(faults.slow_seconds)
        if len(self.path) > faults.max_uri:
            self._send(414, raw=b"<html><body><h1>Request-URI Too Long</h1></body></html>")
            return True
        if _take(faults, "drop_connection"):
            # Close without answering, as a server does with an idle keep-alive connection.
            self.close_connection = True
            return True
        if _take(faults, "status_503"):
            self._send(503, _errors("Service Unavailable", "AEC_SERVICE_UNAVAILABLE"))
            return True
        return False

    def _authenticate(self):
        """Return the user name, or send 401 and return None."""
        sim = self.sim
        auth = self.headers.get("Authorization")
        if auth and auth.startswith("Basic "):
            try:
                user, _sep, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                user, pw = "", None
            if user == sim.username and pw == sim.password and PRIV_LOGIN in sim.privileges:
                if _take(sim.faults, "force_401"):
                    self._send(401, _errors("authorization required"))
                    return None
                return user
            self._send(401, _errors("authorization required"))
            return None
        cookies = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _sep, val = part.strip().partition("=")
            if name:
                cookies[name] = val
        now = sim.clock.now()
        with sim._lock:
            session = sim.sessions.get(cookies.get("isisessid", ""))
            if session is not None:
                expired = now >= session.created + sim.timeout_absolute or (
                    session.inactive_deadline is not None and now >= session.inactive_deadline
                )
                if expired:
                    del sim.sessions[session.sid]
                    session = None
        if session is None or _take(sim.faults, "force_401"):
            self._send(401, _errors("authorization required"))
            return None
        if self.headers.get("X-CSRF-Token") != session.csrf or not (self.headers.get("Referer") or "").startswith(
            "https://"
        ):
            self._send(401, _errors("CSRF token or Referer missing or invalid"))
            return None
        self._replacement = None
        if session.inactive_deadline is not None and session.inactive_deadline - now <= sim.replace_window:
            # Since OneFS 9.3: a replacement cookie when <= 450 s of inactivity time remain;
            # the old session id stops working.
            new_sid = secrets.token_hex(16)
            with sim._lock:
                sim.sessions.pop(session.sid, None)
                replacement = Session(
                    new_sid, session.csrf, session.username, session.created, now + sim.timeout_inactive
                )
                sim.sessions[new_sid] = replacement
                sim.counters["replacements"] += 1
            self._replacement = f"isisessid={new_sid}; path=/; HttpOnly; Secure"
        return session.username

    def _cookie_headers(self):
        rep = getattr(self, "_replacement", None)
        return [("Set-Cookie", rep)] if rep else []

    # ------------------------------------------------------------ verbs
    def do_POST(self):
        sim = self.sim
        if self.path.startswith("/_sim/"):
            return self._control()
        body = self._body()  # always consume the body: the connection is kept alive
        if self._pre():
            return None
        if urlsplit(self.path).path != "/session/1/session":
            return self._send(404, _errors("not found", "AEC_NOT_FOUND"))
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return self._send(400, _errors("invalid JSON body", "AEC_BAD_REQUEST"))
        if (
            req.get("username") != sim.username
            or req.get("password") != sim.password
            or PRIV_LOGIN not in sim.privileges
        ):
            return self._send(401, _errors("Unable to authenticate user"))
        now = sim.clock.now()
        sid, csrf = secrets.token_hex(16), secrets.token_hex(16)
        inactive = now + sim.timeout_inactive if sim.timeout_inactive else None
        with sim._lock:
            sim.sessions[sid] = Session(sid, csrf, req["username"], now, inactive)
            sim.counters["logins"] += 1
        payload = {
            "services": req.get("services") or ["platform"],
            "timeout_absolute": sim.timeout_absolute,
            "timeout_inactive": sim.timeout_inactive,
            "username": req["username"],
        }
        headers = [
            ("Set-Cookie", f"isisessid={sid}; path=/; HttpOnly; Secure"),
            ("Set-Cookie", f"isicsrf={csrf}; path=/; Secure"),
        ]
        return self._send(201, payload, headers)

    def do_DELETE(self):
        sim = self.sim
        if self._pre():
            return
        if urlsplit(self.path).path != "/session/1/session":
            self._send(404, _errors("not found", "AEC_NOT_FOUND"))
            return
        if self._authenticate() is None:
            return
        cookies = dict(p.strip().partition("=")[::2] for p in (self.headers.get("Cookie") or "").split(";") if p)
        with sim._lock:
            sim.sessions.pop(cookies.get("isisessid", ""), None)
            sim.counters["logouts"] += 1
        self._send(204)

    def do_GET(self):  # noqa: PLR0911 - one return per endpoint
        sim = self.sim
        if self.path.startswith("/_sim/"):
            return self._control()
        if self._pre():
            return None
        if self._authenticate() is None:
            return None
        parts = urlsplit(self.path)
        path = parts.path
        extra = self._cookie_headers()
        if path.startswith(("/platform/1/statistics", "/platform/3/statistics")) and PRIV_STATS not in sim.privileges:
            return self._send(
                403, _errors("Privilege check failed: ISI_PRIV_STATISTICS required", "AEC_FORBIDDEN"), extra
            )
        if path == "/platform/1/cluster/config":
            return self._send(200, sim.model.cluster_config(), extra)
        if path == "/platform/1/statistics/keys":
            return self._keys_list(parse_qs(parts.query), extra)
        if path.startswith("/platform/1/statistics/keys/"):
            key = unquote(path[len("/platform/1/statistics/keys/") :])
            meta = sim.model.metadata.get(key)
            if meta is None:
                return self._send(404, _errors(f"Statistics key '{key}' not found", "AEC_NOT_FOUND"), extra)
            return self._send(200, {"keys": [meta]}, extra)
        if path == "/platform/1/statistics/current":
            return self._current(parse_qs(parts.query), extra)
        if path.startswith("/platform/3/statistics/summary/"):
            kind = path.rsplit("/", 1)[1]
            if kind not in ("protocol", "client", "drive"):
                return self._send(404, _errors(f"Path not found: {path}", "AEC_NOT_FOUND"), extra)
            with sim._lock:
                sim.counters["summary_requests"] += 1
            return self._send(200, {kind: summary_values(sim.model, kind, sim.clock.now())}, extra)
        version = path.split("/")[2] if path.endswith("/quota/quotas") and path.count("/") == 4 else ""
        if version.isdigit() and int(version) in sim.quota_versions:
            return self._quotas(int(version), parse_qs(parts.query), extra)
        return self._send(404, _errors(f"Path not found: {path}", "AEC_NOT_FOUND"), extra)

    def _keys_list(self, qs, extra):
        sim = self.sim
        names = sorted(sim.model.metadata)
        start = 0
        limit = int((qs.get("limit") or ["1000"])[0])
        if qs.get("resume"):
            start, _sep, lim = qs["resume"][0].partition(":")
            start, limit = int(start), int(lim or limit)
        chunk = names[start : start + limit]
        nxt = start + limit
        resume = f"{nxt}:{limit}" if nxt < len(names) else None
        payload = {"keys": [sim.model.metadata[k] for k in chunk], "resume": resume, "total": len(names)}
        return self._send(200, payload, extra)

    def _quotas(self, version, qs, extra):
        """Quota list paged with ``resume`` (which must come alone, as on OneFS), filtered by ``type``."""
        sim = self.sim
        with sim._lock:
            sim.counters["quota_requests"] += 1
        if qs.get("resume"):
            if len(qs) > 1:
                return self._send(400, _errors("resume cannot be combined with other arguments", "AEC_BAD_REQUEST"))
            qtype, _sep, rest = qs["resume"][0].partition("|")
            start, _sep, limit = rest.partition(":")
            start, limit = int(start), int(limit)
        else:
            qtype = (qs.get("type") or [""])[0]
            start, limit = 0, min(int((qs.get("limit") or ["1000"])[0]), sim.quota_page_limit_max)
        quotas = quota_list(sim.model, sim.clock.now(), version, sim.quota_count)
        if qtype:
            quotas = [q for q in quotas if q["type"] == qtype]
        page = quotas[start : start + limit]
        nxt = start + limit
        resume = f"{qtype}|{nxt}:{limit}" if nxt < len(quotas) else None
        return self._send(200, {"quotas": page, "resume": resume}, extra)

    def _current(self, qs, extra):
        sim = self.sim
        keys = list(qs.get("key", []))
        for joined in qs.get("keys", []):
            keys.extend(k for k in joined.split(",") if k)
        for key in keys:
            if key not in sim.model.metadata or key in sim.faults.current_rejects:
                return self._send(400, _errors(f"Invalid key: '{key}'", "AEC_BAD_REQUEST"), extra)
        devid_arg = (qs.get("devid") or [""])[0]
        devids = None
        if devid_arg and devid_arg != "all":
            devids = {int(d) for d in devid_arg.split(",")}
        elif not devid_arg:
            local = sim.model.cluster_config()["local_devid"]
            devids = {local}
        degraded = (qs.get("degraded") or ["false"])[0] == "true"
        show_nodes = (qs.get("show_nodes") or ["false"])[0] == "true"
        with sim._lock:
            sim.counters["current_requests"] += 1
        rows = sim.current_rows(keys, sim.clock.now(), degraded=degraded, show_nodes=show_nodes, devids=devids)
        return self._send(200, {"stats": rows}, extra)

    def _control(self):
        """Test/demo control: GET /_sim/state, POST /_sim/faults (JSON), POST /_sim/advance,
        POST /_sim/nodes ``{"down": [LNN…], "up": [LNN…], "lnn": [[old, new]…]}``."""
        sim = self.sim
        if self.command == "GET":
            return self._send(200, {"counters": sim.counters, "now": sim.clock.now(), "requests": len(sim.log)})
        body = json.loads(self._body() or b"{}")
        if self.path == "/_sim/advance":
            sim.clock.advance(float(body.get("seconds", 0)))
        elif self.path == "/_sim/nodes":
            try:
                for lnn in body.get("down", []):
                    sim.set_node_up(int(lnn), False)
                for lnn in body.get("up", []):
                    sim.set_node_up(int(lnn), True)
                for old, new in body.get("lnn", []):
                    sim.change_lnn(int(old), int(new))
            except ValueError as exc:
                return self._send(400, _errors(str(exc), "AEC_BAD_REQUEST"))
        elif self.path == "/_sim/faults":
            for name, given in body.items():
                value = given
                if name == "row_errors":
                    value = {(k, d): c for k, d, c in given}
                elif name == "current_rejects":
                    value = set(given)
                elif name == "value_overrides":
                    value = {(k, d): v for k, d, v in given}
                elif name == "expire_sessions":
                    sim.expire_sessions()
                    continue
                setattr(sim.faults, name, value)
        else:
            return self._send(404, _errors("unknown control path"))
        return self._send(200, {"ok": True})
