"""The whole-stack demo's servers on the machine: a OneFS cluster and Telegram, both stand-ins.

    python tests/harness/stack_servers.py start --address 10.213.N.1 --dir DIR [--onefs-port 18080]
                                                [--telegram-port 18443] [--lifetime 7200]
    python tests/harness/stack_servers.py stop --dir DIR

``start`` forks a daemon (new session) bound only to ``--address`` (the machine side of a target's veth) that runs

- the OneFS PAPI **simulator** (``harness.onefs_simulator``: HTTPS with its own test CA, user ``statsreader``, a
  random password) standing in for a PowerScale cluster, named ``democluster``, 3 nodes;
- the Telegram Bot API **stand-in** (``harness.telegram_standin``: HTTPS with its own test CA) answering
  ``sendMessage`` with ``ok`` and appending every message to ``DIR/telegram.jsonl`` (the text and chat, never the
  bot token in the path).

It writes ``DIR/state.json`` (0600): the two URLs, the paths of both CA certificates and of the OneFS password
file (0600), and prints it. The daemon stops on SIGTERM (``stop``) or by itself after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

if not __package__:  # run as `python tests/harness/stack_servers.py`: make `harness` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.daemon import secret_file
from harness.onefs_simulator.server import OneFSSimulator
from harness.receiver import check_listen_address, start_state_daemon, state_daemon_pid, stop_daemon
from harness.telegram_standin import TelegramStandIn

CLUSTER = "democluster"
ONEFS_USER = "statsreader"


def serve(args: argparse.Namespace, ready_fd: int) -> None:
    directory = Path(args.dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    password = secrets.token_urlsafe(18)
    sim = OneFSSimulator(
        seed=7,
        cluster_name=CLUSTER,
        nodes=3,
        down=[],
        username=ONEFS_USER,
        password=password,
        host=args.address,
        port=args.onefs_port,
        cert_dir=str(directory / "onefs-tls"),
    )
    telegram = TelegramStandIn(host=args.address, port=args.telegram_port, record=directory / "telegram.jsonl")
    try:
        sim.start()
        telegram.start()
        state = {
            "pid": os.getpid(),
            "onefs": {
                "host": args.address,
                "port": sim.port,
                "username": ONEFS_USER,
                "password_file": secret_file(directory / "onefs.password", password),
                "ca": str(sim.ca_path),
                "cluster": CLUSTER,
            },
            "telegram": {
                "url": telegram.base_url,
                "ca": str(directory / "telegram-ca.pem"),
                "messages": str(directory / "telegram.jsonl"),
            },
        }
        Path(state["telegram"]["ca"]).write_bytes(telegram.ca_file.read_bytes())
        state_file = directory / "state.json"
        state_file.touch(mode=0o600)
        state_file.write_text(json.dumps(state))
        os.write(ready_fd, json.dumps(state).encode())
        os.close(ready_fd)
        stop.wait(args.lifetime)
    finally:
        telegram.stop()
        sim.stop()
        (directory / "state.json").unlink(missing_ok=True)


def live_pid(directory: Path) -> int | None:
    return state_daemon_pid(directory, "pid", "stack_servers")


def start(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    return start_state_daemon(
        directory, lambda ready_fd: serve(args, ready_fd), live_pid(directory), "servers.log", "stack servers"
    )


def stop(args: argparse.Namespace) -> int:
    pid = live_pid(Path(args.dir))
    if pid is None:
        print("no stack servers running")
        return 0
    stop_daemon(pid, "stack servers", timeout=30)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack_servers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start", help="start the OneFS simulator and the Telegram stand-in")
    st.add_argument("--address", required=True, help="10.213.N.1 (a target's veth peer)")
    st.add_argument("--lifetime", type=float, default=7200, help="seconds until it stops by itself")
    st.add_argument("--onefs-port", type=int, default=18080)
    st.add_argument("--telegram-port", type=int, default=18443)
    st.add_argument("--dir", required=True, help="private state directory (0700)")
    sp = sub.add_parser("stop", help="stop the servers of a state directory")
    sp.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "start":
        check_listen_address(parser, args.address)
        return start(args)
    return stop(args)


if __name__ == "__main__":
    sys.exit(main())
