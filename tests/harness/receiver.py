"""A test receiver for pushes from the stats collector (or its stand-in): records who sent what.

    python tests/harness/receiver.py start --address 10.213.N.1 --port 443 --tls --log FILE --pidfile FILE
    python tests/harness/receiver.py stop --pidfile FILE

``start`` forks a daemon bound only to ``--address`` (the machine side of a target's veth, or
127.0.0.1), waits until it listens, prints ``{"pid", "url"}`` and returns; an existing live receiver
with the same pidfile is reused. The daemon answers every POST with 204 and appends one JSON line per
request to ``--log``: method, path, basic-auth user, the SHA-256 and length of the basic-auth password
(never the password itself), a few headers and the body: JSON as sent, or for ``application/x-protobuf``
the decoded snappy protobuf (remote write: ``{"series": [[labels, value, ms], ...]}``; Loki push, paths ending
in ``/loki/api/v1/push``: ``{"streams": [{"labels": ..., "entries": [[ns, line], ...]}]}``), decoded with the
backend's own message definitions. ``GET /sd`` answers ``--sd-targets`` (Prometheus HTTP SD JSON).
It stops by itself after ``--lifetime`` seconds (default 1800) or on SIGTERM; ``stop`` sends that and
waits. With ``--tls`` it serves HTTPS with a throw-away certificate (``harness.certs``) made at start in a
private temporary directory; ``--ca-out FILE`` copies that test CA's certificate there for clients to trust.

Python standard library plus ``cryptography`` (an ansible-core dependency) for ``--tls`` and
python-snappy + protobuf (the backend's dependencies, in the venv) for protobuf bodies.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import json
import os
import signal
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if not __package__:  # run as `python tests/harness/receiver.py`: make `harness` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.procs import pid_alive

RECORDED_HEADERS = (
    "user-agent",
    "content-type",
    "content-encoding",
    "x-prometheus-remote-write-version",
    "x-quadstats-standin",
    "x-quadstats-standin-starts",
)
WIRE_PROTO = Path(__file__).resolve().parents[2] / "services" / "backend" / "ingest" / "proto.py"


def decode_protobuf(path: str, body: bytes) -> dict:
    """A snappy protobuf body as JSON-able data (the backend's message definitions, loaded from its file)."""
    import importlib.util  # noqa: PLC0415 - only protobuf bodies need these

    import snappy  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("quadstats_backend_proto", WIRE_PROTO)
    proto = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proto)
    data = snappy.uncompress(body)
    if path.endswith("/loki/api/v1/push"):
        push = proto.messages(lenient=False)["PushRequest"].FromString(data)
        return {
            "streams": [
                {
                    "labels": s.labels,
                    "entries": [[e.timestamp.seconds * 1_000_000_000 + e.timestamp.nanos, e.line] for e in s.entries],
                }
                for s in push.streams
            ]
        }
    write = proto.messages(lenient=False)["WriteRequest"].FromString(data)
    return {
        "series": [
            [{label.name: label.value for label in ts.labels}, sample.value, sample.timestamp]
            for ts in write.timeseries
            for sample in ts.samples
        ]
    }


def records(log_path: Path) -> list[dict]:
    """The records a receiver appended to ``log_path`` (one per request), oldest first; none before the first."""
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def record_of(method: str, path: str, headers, body: bytes) -> dict:
    """What the receiver keeps of one request (the password only as SHA-256 and length)."""
    user = password = None
    auth = headers.get("Authorization", "")
    if auth.startswith("Basic "):
        try:
            user, _sep, password = base64.b64decode(auth[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = "<undecodable>"
    try:
        if (headers.get("Content-Type") or "").startswith("application/x-protobuf"):
            parsed = decode_protobuf(path, body)
        else:
            parsed = json.loads(body) if body else None
    except Exception:  # whatever the body is, the receiver records something and answers
        parsed = {"raw": body[:200].decode(errors="replace")}
    return {
        "time": time.time(),
        "method": method,
        "path": path,
        "user": user,
        "password_sha256": hashlib.sha256(password.encode()).hexdigest() if password is not None else None,
        "password_length": len(password) if password is not None else None,
        "headers": {h: headers.get(h) for h in RECORDED_HEADERS if headers.get(h) is not None},
        "body": parsed,
    }


def make_handler(log_path: Path, sd_targets: str = "[]"):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            line = json.dumps(record_of("POST", self.path, self.headers, body))
            with lock, log_path.open("a") as fh:
                fh.write(line + "\n")
            self.send_response(204)
            self.end_headers()

        def do_GET(self) -> None:
            sd = self.path == "/sd"
            self.send_response(200)
            self.send_header("Content-Type", "application/json" if sd else "text/plain")
            self.end_headers()
            self.wfile.write(sd_targets.encode() if sd else b"quadstats test receiver\n")

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler


def serve(args: argparse.Namespace, ready_fd: int | None) -> None:
    log_path = Path(args.log).resolve()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.touch(mode=0o600)
    server = ThreadingHTTPServer((args.address, args.port), make_handler(log_path, args.sd_targets))
    with tempfile.TemporaryDirectory(prefix="qs-receiver-") as tmp:
        if args.tls:
            from harness.certs import make_test_ca, server_names  # noqa: PLC0415 - only --tls needs cryptography

            tls = make_test_ca(tmp, **server_names(args.address))
            if args.ca_out:
                Path(args.ca_out).write_bytes(Path(tls["ca"]).read_bytes())
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls["cert"], tls["key"])
            server.socket = context.wrap_socket(server.socket, server_side=True)
        Path(args.pidfile).write_text(f"{os.getpid()}\n")
        if ready_fd is not None:
            os.write(ready_fd, b"ok")
            os.close(ready_fd)
        signal.signal(signal.SIGTERM, lambda *_args: threading.Thread(target=server.shutdown).start())
        timer = threading.Timer(args.lifetime, server.shutdown)
        timer.daemon = True
        timer.start()
        try:
            server.serve_forever(poll_interval=0.5)
        finally:
            server.server_close()
            with contextlib.suppress(FileNotFoundError):
                if Path(args.pidfile).read_text().strip() == str(os.getpid()):
                    Path(args.pidfile).unlink()


def live_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` when that process is a receiver, else None."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if "receiver" in cmdline else None


def state_daemon_pid(directory: Path, key: str, marker: str) -> int | None:
    """The pid under ``key`` in ``directory``'s state.json when that process runs ``marker``'s code, else None."""
    try:
        pid = json.loads((directory / "state.json").read_text())[key]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, KeyError):
        return None
    return pid if marker in cmdline else None


def start_state_daemon(
    directory: Path, work: Callable[[int], None], running: int | None, log_name: str, what: str
) -> int:
    """Start ``work`` with ``fork_daemon`` in a private ``directory`` (0700) unless ``running``; print its state."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    if running:
        print((directory / "state.json").read_text())
        return 0
    log = directory / log_name
    _child, state = fork_daemon(work, log)
    if not state:
        print(f"{what} did not start:\n{log.read_text()[-3000:] if log.exists() else ''}", file=sys.stderr)
        return 1
    print(state.decode())
    return 0


def stop_daemon(pid: int, what: str, timeout: float = 30) -> None:
    """SIGTERM a daemon ``fork_daemon`` started and wait until it is gone; SIGKILL after ``timeout``."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    print(f"{what} {pid} stopped")


def fork_daemon(work: Callable[[int], None], log_path: Path | None = None) -> tuple[int, bytes]:
    """Run ``work(ready_fd)`` in a detached child (new session; stdin /dev/null, stdout and stderr to
    ``log_path`` or /dev/null). Returns the child's pid and what it wrote to ``ready_fd`` before closing
    it (empty when it failed before it was ready)."""
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_fd)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log_path else devnull
        for fd, target in ((0, devnull), (1, out), (2, out)):
            os.dup2(target, fd)
        try:
            work(write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        return child, pipe.read()


def add_listen_arguments(command: argparse.ArgumentParser) -> None:
    """``--address``, ``--port`` and ``--lifetime`` of a test server on a target's veth peer."""
    command.add_argument("--address", required=True, help="10.213.N.1 (a target's veth peer) or 127.0.0.1")
    command.add_argument("--port", type=int, required=True)
    command.add_argument("--lifetime", type=float, default=1800, help="seconds until it stops by itself")


def check_listen_address(parser: argparse.ArgumentParser, address: str) -> None:
    if not (address.startswith("10.213.") or address == "127.0.0.1"):
        parser.error("bind only to a target's veth peer (10.213.N.1) or 127.0.0.1")


def start(args: argparse.Namespace) -> int:
    scheme = "https" if args.tls else "http"
    url = f"{scheme}://{args.address}:{args.port}"
    pid = live_pid(Path(args.pidfile))
    if pid:
        print(json.dumps({"pid": pid, "url": url, "reused": True}))
        return 0
    child, ready = fork_daemon(lambda ready_fd: serve(args, ready_fd))
    ok = ready == b"ok"
    if not ok:
        print(f"receiver failed to listen on {args.address}:{args.port}", file=sys.stderr)
        return 1
    print(json.dumps({"pid": child, "url": url, "reused": False}))
    return 0


def stop(args: argparse.Namespace) -> int:
    pidfile = Path(args.pidfile)
    pid = live_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        print("no receiver running")
        return 0
    stop_daemon(pid, "receiver", timeout=10)
    pidfile.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="receiver", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start", help="start a receiver daemon and wait until it listens")
    add_listen_arguments(st)
    st.add_argument("--tls", action="store_true", help="HTTPS with a throw-away test CA's certificate")
    st.add_argument("--ca-out", default="", help="with --tls: write the test CA's certificate to this file")
    st.add_argument("--log", required=True, help="JSON lines file, one per request")
    st.add_argument("--pidfile", required=True)
    st.add_argument("--sd-targets", default="[]", help="JSON answered at GET /sd (Prometheus HTTP SD)")
    sp = sub.add_parser("stop", help="stop the receiver of a pidfile")
    sp.add_argument("--pidfile", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "start":
        check_listen_address(parser, args.address)
        try:
            json.loads(args.sd_targets)
        except ValueError:
            parser.error("--sd-targets: not JSON (give a Prometheus HTTP SD list)")
        return start(args)
    return stop(args)


if __name__ == "__main__":
    sys.exit(main())
