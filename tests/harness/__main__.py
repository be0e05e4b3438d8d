"""CLI for disposable target hosts (molecule create/destroy, the README's main command).

    python tests/harness up --name NAME [--index N] [--inventory PATH] [--group G]
    python tests/harness down --name NAME | --all
    python tests/harness reboot --name NAME
    python tests/harness status [--name NAME]
    python tests/harness ssh --name NAME [-- CMD ...]
    python tests/harness image --name NAME --user USER --image localhost/IMG:TAG [--packages p1,p2]
    python tests/harness rootfs [--rebuild]

(``PYTHONPATH=tests python -m harness ...`` works too.) Must run as root. Phase timings go to
stderr; ``up`` and ``status`` print JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

if not __package__:  # run as `python tests/harness ...`: make `harness` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.target_host import INVENTORY_GROUP, TargetHost, base_rootfs, hosts_with_state


def _no_host(host: TargetHost) -> int:
    hint = f"start one with: up --name {host.name}"
    print(f"harness: no host {host.name!r} (no {host.state_path}); {hint}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness", description="disposable Debian 13 target hosts (systemd-nspawn)")
    sub = parser.add_subparsers(dest="cmd", required=True)

    up = sub.add_parser("up", help="build/boot a target host, wait until ready, write inventory")
    up.add_argument("--name", required=True)
    up.add_argument("--index", type=int, help="N of the 10.213.N.0/24 network (default: first free)")
    up.add_argument("--inventory", type=Path, help="YAML inventory to add the host to")
    up.add_argument("--group", default=INVENTORY_GROUP, help=f"inventory group (default {INVENTORY_GROUP})")

    down = sub.add_parser("down", help="tear a host down (processes, veth, mounts, dirs)")
    grp = down.add_mutually_exclusive_group(required=True)
    grp.add_argument("--name")
    grp.add_argument("--all", action="store_true", help="every host with a state dir")

    reboot = sub.add_parser("reboot", help="stop + boot again, state kept; wait until ready")
    reboot.add_argument("--name", required=True)

    status = sub.add_parser("status", help="JSON status of hosts")
    status.add_argument("--name")

    image = sub.add_parser("image", help="build (cached) and podman-import a Debian image for a rootless user")
    image.add_argument("--name", required=True, help="target host name")
    image.add_argument("--user", required=True, help="rootless user on the target (must exist)")
    image.add_argument("--image", required=True, help="e.g. localhost/qs-python:trixie")
    image.add_argument("--packages", default="python3", help="comma-separated Debian packages (default python3)")

    ssh = sub.add_parser("ssh", help="ssh to the host as root (interactive without a command)")
    ssh.add_argument("--name", required=True)
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ... to run instead of a shell")

    rootfs = sub.add_parser("rootfs", help="build (or reuse) the cached target rootfs, print its path")
    rootfs.add_argument("--rebuild", action="store_true")

    args = parser.parse_args(argv)
    # A SIGTERM (e.g. a timeout in the caller) unwinds like Ctrl-C, so a failed `up` still tears down.
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))

    if args.cmd == "up":
        host = TargetHost(args.name, args.index)
        host.up(inventory=args.inventory, group=args.group)
        print(json.dumps({**host.status(), "key": str(host.key_path), "timings": host.timings}, indent=2))
    elif args.cmd == "down":
        for name in hosts_with_state() if args.all else [args.name]:
            TargetHost(name).destroy()
    elif args.cmd == "reboot":
        host = TargetHost(args.name)
        if not host.state_path.exists():
            return _no_host(host)
        host.reboot()
        print(json.dumps({**host.status(), "timings": host.timings}, indent=2))
    elif args.cmd == "status":
        names = [args.name] if args.name else hosts_with_state()
        print(json.dumps([TargetHost(n).status() for n in names], indent=2))
    elif args.cmd == "image":
        from harness.debian_images import ensure_image  # noqa: PLC0415

        host = TargetHost(args.name)
        ref = ensure_image(host, args.user, args.image, [p for p in args.packages.split(",") if p])
        print(ref)
    elif args.cmd == "ssh":
        host = TargetHost(args.name)
        if not host.state_path.exists():
            return _no_host(host)
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        os.execvp("ssh", [*host.ssh_argv(), *command])  # noqa: S606 - replaces this process by design
    elif args.cmd == "rootfs":
        print(base_rootfs(rebuild=args.rebuild))
    return 0


if __name__ == "__main__":
    sys.exit(main())
