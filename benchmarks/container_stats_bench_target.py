"""Run ``container_stats_bench.py`` on a booted Debian 13 target (podman 5, rootless, cgroup v2).

Boots the target host ``qs-bench-ct`` with the test harness, makes a lingering service user, imports
the harness's busybox image into that user's rootless storage (``harness.images.build_busybox_image``
through nsenter, as the user), copies the benchmark, the collection's ``plugins/module_utils`` and the
tests' podman helpers it imports into the target, runs the benchmark there as the user with the
target's own ``python3`` over SSH (the way Ansible's ``become_user`` reaches it), prints its table,
and tears the host down.

Run from the repository root as root (extra arguments go to the benchmark):
  .venv/bin/python benchmarks/container_stats_bench_target.py [--keep] -- --containers 100 --repeats 15
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness.access import INNER_PATH  # noqa: E402
from harness.images import build_busybox_image  # noqa: E402
from harness.target_host import TargetHost  # noqa: E402

HOST = "qs-bench-ct"
USER = "qsbench"
IMAGE = "localhost/qs-busybox:bench"
# Inside the target: the layout Ansible gives a collection, so the benchmark imports it unchanged.
TREE = "opt/qs-bench/ansible_collections/quadstats/stack"


def prepare_user(host):
    """A lingering user with a running ``user@`` manager (its podman uses the systemd cgroup manager)."""
    # Over SSH: logind needs a real session's environment (nsenter's loginctl gets no bus).
    host.ssh(f"id {USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {USER}; loginctl enable-linger {USER}")
    uid = int(host.run(["id", "-u", USER]).stdout)
    deadline = time.monotonic() + 60
    while host.run(f"test -S /run/user/{uid}/bus", check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"user@{uid}.service gave no session bus within 60 s")
        time.sleep(0.5)
    return uid


# What the benchmark imports: the collection's core and the tests' podman helpers (standard library).
FILES = (
    "benchmarks/container_stats_bench.py",
    "tests/integration/containers/podman_env.py",
    "tests/harness/__init__.py",
    "tests/harness/images.py",
)


def copy_tree(host):
    dest = host.rootfs / TREE
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(ROOT / "plugins" / "module_utils", dest / "plugins" / "module_utils")
    for name in FILES:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    return "/" + TREE


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the host up afterwards (tear down with `down`)")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- arguments for container_stats_bench.py")
    args = parser.parse_args()
    bench_args = [a for a in args.bench_args if a != "--"]
    host = TargetHost(HOST)
    host.up()
    try:
        uid = prepare_user(host)
        user_podman = ["nsenter", "-t", str(host.leader), "-a", "--", "runuser", "-u", USER, "--"]
        user_podman += ["env", "-i", f"PATH={INNER_PATH}", f"HOME=/home/{USER}", f"XDG_RUNTIME_DIR=/run/user/{uid}"]
        build_busybox_image(IMAGE, podman_argv=[*user_podman, "podman"])
        tree = copy_tree(host)
        host.ssh(f"systemctl --user -M {USER}@ stop podman.socket podman.service", check=False)
        command = shlex.join(["python3", f"{tree}/benchmarks/container_stats_bench.py", "--image", IMAGE, *bench_args])
        print(f"on {HOST} as {USER}: {command}", file=sys.stderr, flush=True)
        # Not captured: the benchmark's progress and its table go straight to this terminal.
        result = subprocess.run([*host.ssh_argv(), f"{host.user_env(USER)} {command}"], check=False)
        if result.returncode != 0:
            sys.exit(f"the benchmark failed on {HOST} ({result.returncode})")
    finally:
        if not args.keep:
            host.destroy()


if __name__ == "__main__":
    main()
