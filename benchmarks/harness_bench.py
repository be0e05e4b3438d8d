"""Target-host harness benchmark: what a booted host and a local image cost, each path side by side.

Boots one host (``qs-bench-harness``, cached rootfs), makes a lingering rootless user, then times:

1. ``up`` (copy the cached rootfs, boot, ``running``, SSH) and ``down``, ``--cycles`` times;
2. ``reboot`` (orderly poweroff, boot, ``running``, SSH), ``--repeats`` times;
3. ``ensure_image`` of the Debian python3 image for that user, both paths ``--repeats`` times each:
   *import* (the user has no such image: copy the cached tar into the target, ``podman import`` as the
   user over SSH) against *skip* (the user has it with the same content label: one ``podman image
   inspect`` over SSH). The first import may include building the image tar cache; it is reported
   separately and left out of the import figures.

Wall time min / median / max. Run from the repository root as root (needs systemd-nspawn, debootstrap):
  .venv/bin/python benchmarks/harness_bench.py [--repeats 5 --cycles 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness.debian_images import ensure_image  # noqa: E402
from harness.target_host import TargetHost  # noqa: E402

HOST = "qs-bench-harness"
USER = "qsbench"
IMAGE = "localhost/qs-bench-python:trixie"


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def row(label: str, seconds: list[float]) -> str:
    figures = " / ".join(f"{s:.2f}" for s in (min(seconds), statistics.median(seconds), max(seconds)))
    return f"| {label} | {len(seconds)} | {figures} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="reboots, imports and skips each")
    parser.add_argument("--cycles", type=int, default=3, help="up + down cycles")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("run as root: booting systemd-nspawn hosts needs it")
    host = TargetHost(HOST)
    results: dict[str, list[float]] = {"up": [], "down": [], "reboot": [], "import": [], "skip": []}
    try:
        for _cycle in range(args.cycles):
            results["up"].append(timed(host.up))
            results["down"].append(timed(host.destroy))
        host.up()
        host.ssh(
            f"useradd -m {USER} && loginctl enable-linger {USER} && "
            f"for i in $(seq 50); do systemctl is-active -q user@$(id -u {USER}).service && exit 0; sleep 0.2; done; "
            "exit 1"
        )
        first = timed(lambda: ensure_image(host, USER, IMAGE, ["python3"]))
        as_user = host.user_env(USER)
        for _repeat in range(args.repeats):
            results["skip"].append(timed(lambda: ensure_image(host, USER, IMAGE, ["python3"])))
            host.ssh(f"{as_user} podman rmi --force {IMAGE} >/dev/null")
            results["import"].append(timed(lambda: ensure_image(host, USER, IMAGE, ["python3"])))
        for _repeat in range(args.repeats):
            results["reboot"].append(timed(host.reboot))
    finally:
        host.destroy(quiet=True)
    load = os.getloadavg()
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load {load[0]:.1f}")
    print(f"first ensure_image (tar cache as found, then import): {first:.2f} s\n")
    print("| what | runs | wall s min / median / max |")
    print("|---|---|---|")
    labels = {
        "up": "`up` (copy cached rootfs, boot, running, SSH)",
        "down": "`down` (destroy)",
        "reboot": "`reboot` (poweroff, boot, running, SSH)",
        "import": "`ensure_image`, import path (copy tar, podman import as the user)",
        "skip": "`ensure_image`, skip path (same content label)",
    }
    for key, label in labels.items():
        print(row(label, results[key]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
