# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container engine access (I/O): :class:`Engine` and its three ways to reach an engine.

- :class:`SocketEngine`: Docker or Podman over a local unix socket, standard library only;
- :class:`SdkEngine`: a (usually remote) engine through the ``docker`` SDK (controller only);
- :class:`PodmanCliEngine`: podman without an API socket (podman is daemonless and ``podman.socket``
  is usually off): containers are discovered with ``podman ps``/``podman inspect``; statistics still
  come from cgroups.

Detection order (first that answers wins, see :func:`candidate_sockets` and :func:`connect`):

1. the socket passed explicitly (``unix:///path``, a plain path, or ``tcp://``/``ssh://``);
2. ``DOCKER_HOST``;
3. the user's podman socket ``$XDG_RUNTIME_DIR/podman/podman.sock`` (``/run/user/<uid>/...``);
4. the system podman socket ``/run/podman/podman.sock``;
5. the Docker socket ``/var/run/docker.sock``;
6. the ``podman`` command (not when a socket was given or ``engine`` is ``docker``).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import select
import shutil
import socket
import stat
import struct
import subprocess
from urllib.parse import quote, urlencode

from ansible_collections.quadstats.stack.plugins.module_utils.containers import api_parse
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (
    ContainerError,
    ContainerGone,
    EngineApiError,
    EnginePermissionDenied,
    EngineTimeout,
    EngineUnreachable,
    InvalidOption,
    StatsUnavailable,
    UnknownContainer,
)

LIBPOD_PREFIX = "/v4.0.0/libpod"
COMPAT_PREFIX = "/v1.41"
SYSTEM_PODMAN_SOCKET = "/run/podman/podman.sock"
DOCKER_SOCKET = "/var/run/docker.sock"
ENGINES = ("auto", "docker", "podman")

log = logging.getLogger("quadstats.containers")


def current_user(uid=None):
    """(name, uid) of the effective user, without failing when the uid has no passwd entry."""
    import pwd  # noqa: PLC0415 # only needed for an error message

    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name, uid
    except KeyError:
        return str(uid), uid


def check_timeout(timeout):
    """The ``timeout`` option as a positive float; 0 or less would reach the engine as "no answer"."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise InvalidOption("timeout", f"must be a number of seconds greater than 0 (got {timeout!r})") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidOption("timeout", f"must be a number of seconds greater than 0 (got {timeout!r})")
    return value


def socket_problem(path):
    """Why ``path`` cannot be an engine socket (``"not found"``, a directory, a regular file), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not found"
    except PermissionError:
        return None  # connecting tells the same, with the user's name in the error
    if stat.S_ISDIR(mode):
        return "is a directory, not a socket (give the socket file inside it, e.g. {}/podman.sock)".format(
            path.rstrip("/")
        )
    if stat.S_ISREG(mode):
        return "is a regular file, not a socket"
    if not stat.S_ISSOCK(mode):
        return "is not a socket"
    return None


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
        self.peer_uid = None

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
            # uid of the process serving the socket (SO_PEERCRED): 0 for a rootful engine.
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            self.peer_uid = struct.unpack("3i", creds)[1]
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
        self.last_headers = []
        self.peer_uid = None

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
            except (socket.timeout, TimeoutError):
                self.close()
                raise EngineTimeout(self.socket_path, self.timeout) from None
            except BaseException:
                self.close()
                raise
            self.last_headers = resp.getheaders()
            self.peer_uid = self._conn.peer_uid
            if resp.will_close:
                self.close()
            return resp.status, body
        raise ContainerError("unreachable")  # pragma: no cover - the loop returns or raises

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


class Engine:
    """One container engine: what it is, its running containers, their statistics and events.

    Subclasses say how the engine is reached (``origin``: ``socket``, ``sdk`` or ``cli``), whether
    its containers' cgroups are on this host (``local``) and which statistics API it offers
    (``stats_api``: ``libpod``, ``compat`` or None).
    """

    origin = None
    local = True
    stats_api = None

    def __init__(self, found_by, url, kind, version, api_version):
        self.found_by = found_by
        self.url = url
        self.kind = kind
        self.version = version
        self.api_version = api_version
        self.rootless = None
        # podman < 4.4 reports the container's network rx/tx swapped; the parsers undo it.
        self.network_swapped = api_parse.podman_swaps_network(kind, version)

    def describe(self):
        """What the engine tells about itself, the same keys for every way of reaching it."""
        if self.rootless is None:
            self.rootless = self._rootless()
        return {
            "kind": self.kind,
            "version": self.version,
            "api_version": self.api_version,
            "rootless": self.rootless,
            "origin": self.origin,
            "endpoint": self.url,
            "found_by": self.found_by,
        }

    def _rootless(self):
        return None

    def close(self):
        """Release connections; nothing to do by default."""

    def list_running(self):
        """Running containers as refs (see :mod:`api_parse`)."""
        raise NotImplementedError

    def inspect(self, ident):
        """Ref of one container by name or id; UnknownContainer when the engine does not know it."""
        raise NotImplementedError

    def compat_stats(self, ident):
        """One Docker-compatible stats payload."""
        raise self._no_stats_api()

    def libpod_stats(self, ids=None):
        """libpod stats of running containers in one call: {id: Stats entry}."""
        raise self._no_stats_api()

    def _no_stats_api(self):
        return StatsUnavailable(f"the engine reached through {self.found_by} ({self.url}) offers no libpod stats API")

    def events(self, since=None, until=None, timeout=None):
        """Normalised container events (see api_parse.normalise_event); ends after ``timeout`` idle seconds."""
        for raw in self._raw_events(since, until, timeout):
            event = api_parse.normalise_event(raw)
            if event is not None:
                yield event

    def _raw_events(self, since, until, timeout):
        raise NotImplementedError


class SocketEngine(Engine):
    """A Docker or Podman engine reached over a local unix socket (standard library only)."""

    origin = "socket"

    def __init__(self, client, found_by, url):
        self.client = client
        # /_ping answers at once and names the engine in its headers; podman's /version takes
        # hundreds of milliseconds (it asks conmon and the OCI runtime for their versions).
        status, body = client.request("GET", "/_ping")
        if status != 200 or body.strip() != b"OK":
            raise ContainerError(f"/_ping answered {status} {body[:60]!r}")
        info = api_parse.engine_from_ping(client.last_headers)
        self._peer_uid = client.peer_uid
        if info["version"] is None:
            info = api_parse.engine_from_version(client.get_json("/version"))
        super().__init__(found_by, url, info["kind"], info["version"], info["api_version"])
        self.stats_api = "libpod" if self.kind == "podman" else "compat"

    def _rootless(self):
        # The serving process's uid: a rootless engine (or a user's systemd socket unit) is not root.
        return None if self._peer_uid is None else self._peer_uid != 0

    def close(self):
        self.client.close()

    def list_running(self):
        """Running containers; podman's libpod list carries PIDs, pods, start times (and, podman 5,
        restart counts), so sampling needs no request per container."""
        if self.kind == "podman":
            items = self.client.get_json(LIBPOD_PREFIX + "/containers/json") or []
            return [api_parse.ref_from_libpod_list(item) for item in items if item.get("State") == "running"]
        items = self.client.get_json("/containers/json") or []
        return [api_parse.ref_from_compat_list(item) for item in items]

    def inspect(self, ident):
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
        if self.kind != "podman":
            raise self._no_stats_api()
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

    def _raw_events(self, since, until, timeout):
        query = {"filters": json.dumps({"type": ["container"]})}
        if since is not None:
            query["since"] = str(since)
        if until is not None:
            query["until"] = str(until)
        return self.client.stream_json("/events", query, timeout=timeout)


class SdkEngine(Engine):
    """A (usually remote) engine through the docker SDK: API-only, no cgroup access."""

    origin = "sdk"
    local = False
    stats_api = "compat"

    def __init__(self, api, found_by, url):
        self.api = api
        info = api_parse.engine_from_version(api.version())
        super().__init__(found_by, url, info["kind"], info["version"], info["api_version"])

    def _rootless(self):
        try:
            return api_parse.rootless_from_info("docker", self.api.info())
        except Exception:
            return None

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

    def _raw_events(self, since, until, timeout):
        return self.api.events(since=since, until=until, filters={"type": ["container"]}, decode=True)


class PodmanCliEngine(Engine):
    """Podman without an API socket: discovery through the ``podman`` command (JSON output), one
    ``podman ps`` per collection; statistics come from cgroups (there is no stats API here)."""

    origin = "cli"

    def __init__(self, command, timeout=10.0, env=None):
        self.command = command
        self.timeout = timeout
        self.env = None if env is None else dict(env)
        self._event_processes = set()
        text = self._run("--version").strip()  # "podman version 4.3.1"
        super().__init__("podman command", command, "podman", text.rsplit(" ", 1)[-1] or None, None)

    def _rootless(self):
        return os.geteuid() != 0

    def close(self):
        """End the ``podman events`` processes of open event streams (a daemon's stream never idles out)."""
        for proc in list(self._event_processes):
            proc.kill()

    def _run(self, *args, unknown=None):
        try:
            proc = subprocess.run(
                [self.command, *args],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=self.env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EngineTimeout(f"{self.command} {args[0]}", self.timeout) from None
        if proc.returncode != 0:
            message = proc.stderr.strip()[-300:]
            if unknown is not None and "no such" in message.lower():
                raise UnknownContainer([unknown])
            raise ContainerError(f"{self.command} {' '.join(args)} exited {proc.returncode}: {message}")
        return proc.stdout

    def list_running(self):
        items = json.loads(self._run("ps", "--format", "json") or "[]") or []
        return [api_parse.ref_from_libpod_list(item) for item in items if item.get("State") == "running"]

    def inspect(self, ident):
        [item] = json.loads(self._run("container", "inspect", ident, unknown=ident))
        return api_parse.ref_from_inspect(item)

    def _no_stats_api(self):
        return StatsUnavailable(
            "podman was reached through its command, which reads statistics from cgroups only; "
            "give the 'socket' option (a running 'podman system service' or podman.socket) for source=api"
        )

    def _raw_events(self, since, until, timeout):
        args = [self.command, "events", "--format", "json", "--filter", "type=container"]
        if since is not None:
            args += ["--since", str(since)]
        if until is not None:
            args += ["--until", str(until)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env)
        self._event_processes.add(proc)
        try:
            yield from _json_lines(proc.stdout.fileno(), timeout)
        finally:
            self._event_processes.discard(proc)
            proc.kill()
            proc.wait()
            proc.stdout.close()


def _json_lines(fd, timeout):
    """JSON objects, one per line, from a pipe; ends at EOF or after ``timeout`` idle seconds.

    Reads the descriptor itself: a buffered reader may hold a complete line that ``select`` on the
    descriptor cannot see, and that line would be lost to the idle timeout.
    """
    pending = b""
    while True:
        while b"\n" not in pending:
            if timeout is not None and not select.select([fd], [], [], timeout)[0]:
                return
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        if line.strip():
            yield json.loads(line.decode("utf-8"))


def _sdk_engine(found_by, url, env, timeout):
    try:
        import docker  # noqa: PLC0415 # optional SDK, controller only
    except ImportError:
        raise ContainerError(
            f"{found_by} is {url}: remote engines need the 'docker' Python SDK on the controller (pip install docker)"
        ) from None
    if found_by == "DOCKER_HOST":
        client = docker.from_env(environment=dict(env), timeout=int(max(1, timeout)))
        api = client.api
    else:
        api = docker.APIClient(base_url=url, timeout=int(max(1, timeout)))
    return SdkEngine(api, found_by, url)


def _socket_engine(found_by, path, timeout, tried):
    """A SocketEngine on ``path``, or None after recording in ``tried`` why not."""
    problem = socket_problem(path)
    if problem is not None:
        if found_by == "socket option" and problem != "not found":
            raise InvalidOption("socket", f"{path} {problem}")
        tried.append((path, problem))
        return None
    client = UnixApiClient(path, timeout)
    try:
        return SocketEngine(client, found_by, "unix://" + path)
    except PermissionError:
        tried.append((path, "permission denied"))
    except ConnectionRefusedError:
        tried.append((path, "connection refused: nothing listening"))
    except EngineTimeout:
        tried.append((path, f"no answer within {timeout:g} s (the 'timeout' option)"))
    except (OSError, ValueError, ContainerError, http.client.HTTPException) as exc:
        tried.append((path, f"not an engine API: {exc}"))
    client.close()
    return None


def _cli_engine(podman_command, env, timeout, tried):
    """A PodmanCliEngine, or None after recording in ``tried`` why not."""
    command = shutil.which(podman_command, path=env.get("PATH") or os.defpath)
    if command is None:
        tried.append(("podman command", "not installed"))
        return None
    try:
        found = PodmanCliEngine(command, timeout)
    except ContainerError as exc:
        tried.append((command, str(exc)))
        return None
    log.debug("no engine API socket answered; discovering containers with %s", command)
    return found


def connect(engine="auto", sock=None, env=None, uid=None, timeout=10.0, *, podman_command="podman"):
    """Connect to the first engine that answers; raise a clear error naming everything tried.

    ``podman_command``: the podman executable (name or path) to fall back to when no API socket
    answers; None disables the fallback.
    """
    if engine not in ENGINES:
        raise InvalidOption("engine", "must be one of {} (got {!r})".format(", ".join(ENGINES), engine))
    timeout = check_timeout(timeout)
    env = os.environ if env is None else env
    tried = []
    for found_by, url in candidate_sockets(sock, env, uid, engine):
        if url.startswith("unix://"):
            found = _socket_engine(found_by, url[len("unix://") :], timeout, tried)
            if found is None:
                continue
        elif url.startswith(("tcp://", "ssh://", "http://", "https://")):
            try:
                found = _sdk_engine(found_by, url, env, timeout)
            except ContainerError:
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
        log.debug("%s %s answered on %s (%s)", found.kind, found.version, url, found_by)
        return found
    if not sock and engine in ("auto", "podman") and podman_command:
        found = _cli_engine(podman_command, env, timeout, tried)
        if found is not None:
            return found
    denied = [where for where, why in tried if why == "permission denied"]
    if denied:
        name, real_uid = current_user(uid)
        raise EnginePermissionDenied(denied[0], name, real_uid, tried)
    raise EngineUnreachable(tried, _systemd_advice(engine, uid))


def _systemd_advice(engine, uid):
    """How to start the engine's socket where systemd runs; None where it does not."""
    if not os.path.isdir("/run/systemd/system"):
        return None
    if engine == "docker":
        return "enable --now docker.socket"
    uid = os.geteuid() if uid is None else uid
    return "--user enable --now podman.socket" if uid != 0 else "enable --now podman.socket"
