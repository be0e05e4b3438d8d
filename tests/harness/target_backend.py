"""The real backend service for a target host: TimescaleDB + the backend on the machine side of the host's veth, HTTPS.

    python tests/harness/target_backend.py start --address 10.213.N.1 --port 8443 --host HOSTNAME --dir DIR
    python tests/harness/target_backend.py stop --dir DIR

``start`` forks a supervisor (new session) that starts a real PostgreSQL 17 + TimescaleDB
(``harness.timescaledb``, rootful podman on 127.0.0.1), creates a database, runs the backend's
``migrate`` and ``token-add HOSTNAME`` and then the backend itself (``python3 -m …services.backend``,
the worktree's code) listening only on ``--address:--port`` with TLS: a server certificate for that
address from a throw-away test CA (``harness.certs``). It waits until ``/healthz`` answers over HTTPS
verified with that CA, writes ``DIR/state.json`` (0600: url, ca, token_file, dsn, pids) and prints it.
The ingest token is only in ``DIR/token`` (0600). The supervisor stops the backend and the database on
SIGTERM (``stop``) or by itself after ``--lifetime`` seconds (default 1800), so nothing outlives a run
whose clean-up never ran. Logs: ``DIR/supervisor.log``, ``DIR/backend.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

if not __package__:  # run as `python tests/harness/target_backend.py`: make `harness` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.backend_service import wait_healthy
from harness.certs import make_test_ca, server_names
from harness.daemon import REPO, SERVICES, DaemonProcess, secret_file
from harness.receiver import (
    add_listen_arguments,
    check_listen_address,
    start_state_daemon,
    state_daemon_pid,
    stop_daemon,
)

BACKEND = SERVICES + "backend"
DBNAME = "target_backend"


def backend_cli(config: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / ".venv")}
    done = subprocess.run(
        [sys.executable, "-m", BACKEND, "--config", str(config), *args],
        env=env, capture_output=True, text=True, timeout=300, check=False, cwd=str(REPO),
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"backend {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def supervise(args: argparse.Namespace, ready_fd: int) -> None:
    """Start database and backend, report readiness through ``ready_fd``, stop both on SIGTERM or lifetime."""
    from harness.timescaledb import TimescaleDB  # noqa: PLC0415 - podman only in the supervisor

    directory = Path(args.dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    database = backend = None
    try:
        database = TimescaleDB().start()
        database.psql(f'CREATE DATABASE "{DBNAME}"')
        tls = make_test_ca(directory / "tls", **server_names(args.address))
        settings = {
            "database": {
                "host": database.host,
                "port": database.port,
                "dbname": DBNAME,
                "user": "postgres",
                "password_file": secret_file(directory / "db-password", database.password),
                "sslmode": "disable",
            },
            "listen": {
                "host": args.address,
                "port": args.port,
                "tls_cert_file": tls["cert"],
                "tls_key_file": tls["key"],
            },
        }
        config = directory / "backend.yml"
        config.write_text(json.dumps(settings))
        backend_cli(config, "migrate")
        token_file = secret_file(directory / "token", backend_cli(config, "token-add", args.host))
        backend = DaemonProcess("backend", config, directory / "backend.log")
        url = f"https://{args.address}:{args.port}"
        os.environ["SSL_CERT_FILE"] = tls["ca"]  # httpx verifies against the test CA (by IP address)
        wait_healthy(url, timeout=90, alive=lambda: None if backend.proc.poll() is None else backend.log()[-2000:])
        state = {
            "url": url,
            "ca": tls["ca"],
            "token_file": token_file,
            "host": args.host,
            "dsn": database.dsn(DBNAME),
            "database_container": database.name,
            "supervisor_pid": os.getpid(),
            "backend_pid": backend.proc.pid,
        }
        state_file = directory / "state.json"
        state_file.touch(mode=0o600)
        state_file.write_text(json.dumps(state))
        os.write(ready_fd, json.dumps(state).encode())
        os.close(ready_fd)
        ready_fd = -1
        stop.wait(args.lifetime)
    except BaseException as exc:  # tell the waiting parent (through the log), then clean up
        print(f"target backend failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    finally:
        if ready_fd >= 0:
            os.close(ready_fd)
        if backend is not None:
            with contextlib.suppress(AssertionError):
                backend.stop()
        if database is not None:
            database.stop()
        (directory / "state.json").unlink(missing_ok=True)


def start(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    return start_state_daemon(
        directory,
        lambda ready_fd: supervise(args, ready_fd),
        live_supervisor(directory),
        "supervisor.log",
        "target backend",
    )


def live_supervisor(directory: Path) -> int | None:
    return state_daemon_pid(directory, "supervisor_pid", "target_backend")


def stop(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    pid = live_supervisor(directory)
    if pid is None:
        print("no target backend running")
        return 0
    stop_daemon(pid, "target backend", timeout=90)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="target_backend", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start", help="start database and backend, wait until healthy over HTTPS")
    add_listen_arguments(st)
    st.add_argument("--host", required=True, help="host name the ingest token may report for")
    st.add_argument("--dir", required=True, help="private state directory (0700)")
    sp = sub.add_parser("stop", help="stop the target backend of a state directory")
    sp.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "start":
        check_listen_address(parser, args.address)
        return start(args)
    return stop(args)


if __name__ == "__main__":
    sys.exit(main())
