"""The exporters scenario's fakes on the machine side of the target's veth: OneFS simulators and a backend.

    python simulators.py run --address 10.213.N.1 --dir DIR --cluster alpha:8080 --cluster beta:8081 \
        [--backend 8090] [--lifetime S]
    python simulators.py stop --dir DIR

``run`` serves one simulator (tests/harness/onefs_simulator) per ``--cluster NAME:PORT``, each with its own
test CA in ``DIR/NAME/ca.pem`` and the password read from ``DIR/NAME.password`` — never from the command line.
The file is read again every half second, so a password the verifier changes is accepted from then on.
``--backend PORT`` adds a heartbeat receiver speaking the backend's ``POST /metric``: it accepts only
``Authorization: Bearer <DIR/backend.token>`` (401 otherwise) and appends one JSON line per request to
``DIR/heartbeats.jsonl`` (time, path, whether the token matched, the JSON body; never the token).
It writes ``DIR/simulators.pid`` once everything listens and stops on SIGTERM or after ``--lifetime``.
``stop`` signals the pid in that file (only when it is this script) and waits.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from harness.onefs_simulator.server import OneFSSimulator

PIDFILE = "simulators.pid"


def backend_receiver(address: str, port: int, directory: Path) -> ThreadingHTTPServer:
    """A started heartbeat receiver checking the Bearer token against ``directory/backend.token``."""
    lock = threading.Lock()
    log = directory / "heartbeats.jsonl"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            expected = "Bearer " + (directory / "backend.token").read_text().strip()
            authorized = hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected.encode())
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            record = {"time": time.time(), "path": self.path, "authorized": authorized, "body": parsed}
            with lock, log.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            self.send_response(204 if authorized else 401)
            self.end_headers()

        def log_message(self, format: str, *args) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True).start()
    return server


def run(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    sims = {}
    for spec in args.cluster:
        name, port = spec.split(":")
        password_file = directory / f"{name}.password"
        sims[name] = (
            OneFSSimulator(
                cluster_name=name.capitalize(),
                nodes=3,
                password=password_file.read_text().strip(),
                host=args.address,
                port=int(port),
                cert_dir=str(directory / name),
            ).start(),
            password_file,
        )
    backend = backend_receiver(args.address, args.backend, directory) if args.backend else None
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: done.set())
    (directory / PIDFILE).write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + args.lifetime
    while not done.wait(0.5) and time.monotonic() < deadline:
        for sim, password_file in sims.values():
            sim.password = password_file.read_text().strip()
    for sim, _password_file in sims.values():
        sim.stop()
    if backend is not None:
        backend.shutdown()
        backend.server_close()
    (directory / PIDFILE).unlink(missing_ok=True)
    return 0


def stop(args: argparse.Namespace) -> int:
    pidfile = Path(args.dir) / PIDFILE
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        print("not running")
        return 0
    if Path(__file__).name.encode() not in cmdline:
        print("not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    for _attempt in range(100):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    print("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("run")
    start.add_argument("--address", required=True)
    start.add_argument("--dir", required=True)
    start.add_argument("--cluster", action="append", required=True, help="NAME:PORT (repeatable)")
    start.add_argument("--backend", type=int, default=0, help="PORT of the heartbeat receiver (0: none)")
    start.add_argument("--lifetime", type=float, default=1800)
    end = sub.add_parser("stop")
    end.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else stop(args)


if __name__ == "__main__":
    sys.exit(main())
