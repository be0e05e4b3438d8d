"""Run the OneFS simulator standalone: ``cd tests && python -m harness.onefs_simulator --port 8080``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from .server import OneFSSimulator


def main(argv=None):
    parser = argparse.ArgumentParser(description="OneFS Platform API simulator (HTTPS, test CA)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="SimCluster", help="cluster name")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--down", type=int, action="append", default=[], help="LNN of a down node (repeatable)")
    parser.add_argument("--username", default="statsreader")
    parser.add_argument("--password", default="sim-password")
    parser.add_argument("--cert-dir", default=None, help="where to write ca.pem/server.pem (default: a temp dir)")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop by itself after this long")
    args = parser.parse_args(argv)
    sim = OneFSSimulator(
        seed=args.seed,
        cluster_name=args.name,
        nodes=args.nodes,
        down=args.down,
        username=args.username,
        password=args.password,
        host=args.host,
        port=args.port,
        cert_dir=args.cert_dir,
    )
    sim.start()
    print(f"listening https://{sim.host}:{sim.port} ca_path={sim.ca_path}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait(args.max_seconds)
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
