"""Processes, cgroups and mounts of this machine, as the harness sees them through ``/proc`` and cgroupfs.

Used to boot a target in a cgroup of its own and to find and remove everything a host (or a killed
earlier run, or an orphaned debootstrap) left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


def sh(cmd: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; with ``check`` raise with its stderr (or stdout) when it fails."""
    res = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    return res


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` exists and is neither a zombie nor dead."""
    return bool(pid) and _proc_state(pid) not in (None, "Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def all_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def ns_id(pid: int, ns: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{ns}")
    except OSError:
        return None


def mount_ns_root(pid: int) -> str | None:
    """Source path (inside its filesystem) of the ``/`` mount that ``pid`` sees."""
    try:
        with open(f"/proc/{pid}/mountinfo") as fh:
            for line in fh:
                fields = line.split()
                if fields[4] == "/":
                    return fields[3].replace("\\040", " ")
    except OSError:
        return None
    return None


def kill_until_gone(find: Callable[[], list[int]], what: str, timeout: float = 15, poll=None) -> None:
    """SIGKILL what ``find()`` returns until it returns nothing alive; raise after ``timeout``.

    ``poll`` (e.g. ``Popen.poll``) runs each round so a child of ours stops counting as alive once reaped.
    """
    deadline = time.monotonic() + timeout
    while True:
        if poll:
            poll()
        left = [p for p in find() if pid_alive(p)]
        if not left:
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what}: processes survive SIGKILL: {left}")
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _cgroup2_mount() -> Path | None:
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            pre, post = line.split(" - ", 1)
            if post.split()[0] == "cgroup2":
                return Path(pre.split()[4])
    return None


def cgroup_dir(name: str) -> Path | None:
    """A cgroup2 directory of this host's own, so targets never share a cgroup tree.

    systemd-nspawn puts the container in ``<own cgroup>/payload``; every nspawn started from the
    same cgroup would share one tree, and one target's systemd would then wait for (and try to
    kill) another target's processes in a same-named unit cgroup (e.g. ``user@0.service``).
    """
    mount = _cgroup2_mount()
    if mount is None:
        return None
    own = next(
        (ln.split(":", 2)[2] for ln in Path("/proc/self/cgroup").read_text().splitlines() if ln.startswith("0::")), "/"
    )
    return mount / own.strip("/") / "quadstats" / name


def kill_cgroup(path: Path | None) -> None:
    """Ask the kernel to SIGKILL every process of the cgroup subtree (cgroup.kill); no wait."""
    if path and (path / "cgroup.kill").exists():
        with contextlib.suppress(OSError):
            (path / "cgroup.kill").write_text("1")


def remove_cgroup(path: Path, timeout: float = 10) -> None:
    """Kill every process in the cgroup subtree and remove it (deepest first)."""
    if not path.is_dir():
        return
    kill_cgroup(path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if "populated 0" in (path / "cgroup.events").read_text():
                break
        time.sleep(0.05)
    dirs = sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
    for d in [*dirs, path]:
        with contextlib.suppress(OSError):
            d.rmdir()


def umount_below(path: Path) -> None:
    """Lazily unmount ``path`` and every mount below it, deepest first."""
    prefix = str(path)
    mounts = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == prefix or mnt.startswith(prefix + "/"):
                mounts.append(mnt)
    for mnt in sorted(mounts, key=len, reverse=True):
        sh(["umount", "-l", mnt], check=False)
