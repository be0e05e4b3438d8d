# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container engine access (I/O): Docker and Podman over a unix socket with the standard library.

Detection order (first that answers wins, see :func:`candidate_sockets`):

1. the socket passed explicitly (``unix:///path``, a plain path, or ``tcp://``/``ssh://``);
2. ``DOCKER_HOST``;
3. the user's podman socket ``$XDG_RUNTIME_DIR/podman/podman.sock`` (``/run/user/<uid>/...``);
4. the system podman socket ``/run/podman/podman.sock``;
5. the Docker socket ``/var/run/docker.sock``.

Remote engines (``tcp://``, ``ssh://``, TLS) need the ``docker`` SDK, imported lazily (controller only).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from urllib.parse import quote, urlencode

from ansible_collections.quadstats.stack.plugins.module_utils.containers import api_parse
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (
    ContainerGone,
    ContainerStatsError,
    EngineApiError,
    EnginePermissionDenied,
    EngineUnreachable,
    UnknownContainer,
)

LIBPOD_PREFIX = "/v4.0.0/libpod"
COMPAT_PREFIX = "/v1.41"
SYSTEM_PODMAN_SOCKET = "/run/podman/podman.sock"
DOCKER_SOCKET = "/var/run/docker.sock"


def current_user(uid=None):
    """(name, uid) of the effective user, without failing when the uid has no passwd entry."""
    uid = os.geteuid() if uid is None else uid
    try:
        import pwd  # noqa: PLC0415 # only needed for an error message

        return pwd.getpwuid(uid).pw_name, uid
    except (ImportError, KeyError):
        return str(uid), uid


def candidate_sockets(sock=None, env=None, uid=None, engine="auto"):
    """The engine endpoints to try, in order, as a list of (origin, url)."""
    env = os.environ if env is None else env
    uid = os.geteuid() if uid is None else uid
    if sock:
        url = sock if "://" in sock else "unix://" + sock
        return [("socket option", url)]
    out = []
    if env.get("DOCKER_HOST"):
        out.append(("DOCKER_HOST", env["DOCKER_HOST"]))
    if engine in ("auto", "podman"):
        runtime_dir = env.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
        out.append(("user podman socket", "unix://" + runtime_dir.rstrip("/") + "/podman/podman.sock"))
        out.append(("system podman socket", "unix://" + SYSTEM_PODMAN_SOCKET))
    if engine in ("auto", "docker"):
        out.append(("docker socket", "unix://" + DOCKER_SOCKET))
    seen = set()
    unique = []
    for origin, url in out:
        if url not in seen:
            seen.add(url)
            unique.append((origin, url))
    return unique


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix stream socket."""

    def __init__(self, socket_path, timeout=10.0):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _error_message(body):
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:300]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("cause") or data)[:300]
    return str(data)[:300]


class UnixApiClient:
    """Minimal JSON client of an engine API on a unix socket; one keep-alive connection."""

    def __init__(self, socket_path, timeout=10.0):
        self.socket_path = socket_path
        self.timeout = timeout
        self._conn = None

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method, path, query=None):
        """(status, body bytes). Reconnects once when a kept-alive connection was closed."""
        url = path + ("?" + urlencode(query, doseq=True) if query else "")
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = UnixHTTPConnection(self.socket_path, self.timeout)
            try:
                self._conn.request(method, url, headers={"Host": "localhost"})
                resp = self._conn.getresponse()
                body = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
                continue
            except BaseException:
                self.close()
                raise
            if resp.will_close:
                self.close()
            return resp.status, body
        raise ContainerStatsError("unreachable")  # pragma: no cover - the loop returns or raises

    def get_json(self, path, query=None):
        status, body = self.request("GET", path, query)
        if status >= 400:
            raise EngineApiError("GET", path, status, _error_message(body))
        return json.loads(body.decode("utf-8")) if body else None

    def stream_json(self, path, query=None, timeout=None):
        """Yield JSON objects from a streaming endpoint (one per line) on a dedicated connection.

        Ends when the engine closes the stream or, with ``timeout``, after that many idle seconds.
        """
        conn = UnixHTTPConnection(self.socket_path, timeout if timeout is not None else None)
        url = path + ("?" + urlencode(query, doseq=True) if query else "")
        try:
            conn.request("GET", url, headers={"Host": "localhost"})
            resp = conn.getresponse()
            if resp.status >= 400:
                raise EngineApiError("GET", path, resp.status, _error_message(resp.read()))
            while True:
                try:
                    line = resp.readline()
                except (socket.timeout, TimeoutError):
                    return
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line.decode("utf-8"))
        finally:
            conn.close()


def _description(engine):
    """What an engine (stdlib or docker SDK client) tells about itself, the same for both."""
    return {
        "kind": engine.kind,
        "version": engine.version,
        "api_version": engine.api_version,
        "rootless": engine.rootless,
        "endpoint": engine.url,
        "found_by": engine.origin,
    }


class Engine:
    """A Docker or Podman engine reached over a local unix socket."""

    local = True

    def __init__(self, client, origin, url):
        self.client = client
        self.origin = origin
        self.url = url
        version = client.get_json("/version")
        info = api_parse.engine_from_version(version)
        self.kind = info["kind"]
        self.version = info["version"]
        self.api_version = info["api_version"]
        self.rootless = None

    def describe(self):
        if self.rootless is None:
            try:
                if self.kind == "podman":
                    self.rootless = api_parse.rootless_from_info(
                        "podman", self.client.get_json(LIBPOD_PREFIX + "/info")
                    )
                else:
                    self.rootless = api_parse.rootless_from_info("docker", self.client.get_json("/info"))
            except ContainerStatsError:
                self.rootless = None
        return _description(self)

    def close(self):
        self.client.close()

    def list_running(self):
        """Running containers as refs; podman's libpod list carries PIDs and pods."""
        if self.kind == "podman":
            items = self.client.get_json(LIBPOD_PREFIX + "/containers/json") or []
            return [api_parse.ref_from_libpod_list(item) for item in items if item.get("State") == "running"]
        items = self.client.get_json("/containers/json") or []
        return [api_parse.ref_from_compat_list(item) for item in items]

    def inspect(self, ident):
        """Ref of one container by name or id; UnknownContainer when the engine does not know it."""
        path = "/containers/{}/json".format(quote(ident, safe=""))
        status, body = self.client.request("GET", path)
        if status == 404:
            raise UnknownContainer([ident])
        if status >= 400:
            raise EngineApiError("GET", path, status, _error_message(body))
        return api_parse.ref_from_inspect(json.loads(body.decode("utf-8")))

    def compat_stats(self, ident):
        """One Docker-compatible stats payload (``stream=false&one-shot=true``)."""
        path = "{}/containers/{}/stats".format(COMPAT_PREFIX, quote(ident, safe=""))
        status, body = self.client.request("GET", path, {"stream": "false", "one-shot": "true"})
        if status == 404:
            raise ContainerGone(ident, "no such container (removed)")
        if status >= 400:
            message = _error_message(body)
            if status == 409 or "not running" in message or "stopped" in message:
                raise ContainerGone(ident, f"not running ({message})")
            raise EngineApiError("GET", path, status, message)
        return json.loads(body.decode("utf-8"))

    def libpod_stats(self, ids=None):
        """libpod stats of running containers in one call: {id: Stats entry}."""
        query = {"stream": "false"}
        if ids:
            query["containers"] = list(ids)
        try:
            data = self.client.get_json(LIBPOD_PREFIX + "/containers/stats", query)
        except EngineApiError:
            if not ids:
                raise
            # One of the asked containers is gone: ask for all running ones and pick.
            data = self.client.get_json(LIBPOD_PREFIX + "/containers/stats", {"stream": "false"})
        if data and data.get("Error"):
            raise EngineApiError("GET", LIBPOD_PREFIX + "/containers/stats", 200, str(data["Error"]))
        return {entry.get("ContainerID"): entry for entry in (data or {}).get("Stats") or ()}

    def events(self, since=None, until=None, timeout=None):
        """Normalised container events (see api_parse.normalise_event)."""
        query = {"filters": json.dumps({"type": ["container"]})}
        if since is not None:
            query["since"] = str(since)
        if until is not None:
            query["until"] = str(until)
        for raw in self.client.stream_json("/events", query, timeout=timeout):
            event = api_parse.normalise_event(raw)
            if event is not None:
                yield event


class SdkEngine:
    """A (usually remote) engine through the docker SDK: API-only, no cgroup access."""

    local = False

    def __init__(self, api, origin, url):
        self.api = api
        self.origin = origin
        self.url = url
        info = api_parse.engine_from_version(api.version())
        self.kind = info["kind"]
        self.version = info["version"]
        self.api_version = info["api_version"]
        self.rootless = None

    def describe(self):
        if self.rootless is None:
            try:
                self.rootless = api_parse.rootless_from_info("docker", self.api.info())
            except Exception:
                self.rootless = None
        return _description(self)

    def close(self):
        self.api.close()

    def list_running(self):
        return [api_parse.ref_from_compat_list(item) for item in self.api.containers()]

    def inspect(self, ident):
        import docker.errors  # noqa: PLC0415 # optional SDK, controller only

        try:
            return api_parse.ref_from_inspect(self.api.inspect_container(ident))
        except docker.errors.NotFound:
            raise UnknownContainer([ident]) from None

    def compat_stats(self, ident):
        import docker.errors  # noqa: PLC0415 # optional SDK, controller only

        try:
            return self.api.stats(ident, stream=False, one_shot=True)
        except docker.errors.NotFound:
            raise ContainerGone(ident, "no such container (removed)") from None
        except docker.errors.APIError as exc:
            if "not running" in str(exc) or getattr(exc, "status_code", None) == 409:
                raise ContainerGone(ident, "not running") from None
            raise EngineApiError("GET", f"/containers/{ident}/stats", exc.status_code, str(exc)) from None

    def libpod_stats(self, ids=None):
        raise ContainerStatsError("libpod stats are not available through the docker SDK")

    def events(self, since=None, until=None, timeout=None):
        for raw in self.api.events(since=since, until=until, filters={"type": ["container"]}, decode=True):
            event = api_parse.normalise_event(raw)
            if event is not None:
                yield event


def _sdk_engine(origin, url, env, timeout):
    try:
        import docker  # noqa: PLC0415 # optional SDK, controller only
    except ImportError:
        raise ContainerStatsError(
            f"{origin} is {url}: remote engines need the 'docker' Python SDK on the controller (pip install docker)"
        ) from None
    if origin == "DOCKER_HOST":
        client = docker.from_env(environment=dict(env), timeout=int(timeout))
        api = client.api
    else:
        api = docker.APIClient(base_url=url, timeout=int(timeout))
    return SdkEngine(api, origin, url)


def connect(engine="auto", sock=None, env=None, uid=None, timeout=10.0):  # noqa: PLR0912 # one branch per failure kind
    """Connect to the first engine that answers; raise a clear error naming every socket tried."""
    if engine not in ("auto", "docker", "podman"):
        raise ContainerStatsError(f"engine must be one of auto, docker, podman (got {engine!r})")
    env = os.environ if env is None else env
    tried = []
    denied = None
    for origin, url in candidate_sockets(sock, env, uid, engine):
        if url.startswith("unix://"):
            path = url[len("unix://") :]
            client = UnixApiClient(path, timeout)
            try:
                found = Engine(client, origin, url)
            except FileNotFoundError:
                tried.append((path, "not found"))
                continue
            except PermissionError:
                tried.append((path, "permission denied"))
                denied = denied or path
                continue
            except ConnectionRefusedError:
                tried.append((path, "connection refused: nothing listening"))
                continue
            except (OSError, ValueError, ContainerStatsError, http.client.HTTPException) as exc:
                client.close()
                tried.append((path, f"not an engine API: {exc}"))
                continue
        elif url.startswith(("tcp://", "ssh://", "http://", "https://")):
            try:
                found = _sdk_engine(origin, url, env, timeout)
            except ContainerStatsError:
                raise
            except Exception as exc:
                tried.append((url, f"{type(exc).__name__}: {exc}"))
                continue
        else:
            tried.append((url, "unsupported scheme"))
            continue
        if engine not in ("auto", found.kind):
            found.close()
            tried.append((url, f"is {found.kind}, not {engine}"))
            continue
        return found
    if denied is not None:
        name, real_uid = current_user(uid)
        raise EnginePermissionDenied(denied, name, real_uid, tried)
    raise EngineUnreachable(tried)
