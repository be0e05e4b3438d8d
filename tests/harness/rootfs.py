"""Cached Debian rootfs trees built with debootstrap (target hosts and local images share this).

A tree is cached under ``/var/cache/quadstats/<kind>/<key>`` where ``key`` hashes the suite, the
mirror, the package list and the builder version. A build runs in a temporary sibling directory
and is renamed into place only when complete, so a killed build never leaves a half cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from harness.procs import all_pids, pid_alive, umount_below

CACHE_ROOT = Path(os.environ.get("QS_CACHE_DIR", "/var/cache/quadstats"))
SUITE = "trixie"
MIRROR = os.environ.get("QS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
STAMP = ".quadstats-complete"


def log(msg: str) -> None:
    print(f"[harness] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    """Print how long a phase took (to stderr, so stdout stays machine-readable)."""
    start = time.monotonic()
    try:
        yield
    finally:
        log(f"{label}: {time.monotonic() - start:.1f}s")


def cache_key(packages: Sequence[str], version: str, extra: str = "") -> str:
    material = json.dumps(
        {"suite": SUITE, "mirror": MIRROR, "packages": sorted(set(packages)), "version": version, "extra": extra},
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _release(path: Path) -> None:
    """Kill processes still working in ``path`` (an orphaned debootstrap, its chroots) and unmount below it."""
    prefix = str(path)
    for entry in all_pids():
        if entry == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            where = {os.readlink(f"/proc/{entry}/cwd"), os.readlink(f"/proc/{entry}/root")}
        except OSError:
            continue
        if prefix in argv or any(w == prefix or w.startswith(prefix + "/") for w in where):
            with contextlib.suppress(OSError):
                os.kill(entry, 9)
    umount_below(path)


def _discard(path: Path) -> None:
    _release(path)
    shutil.rmtree(path, ignore_errors=True)


def _remove_stale_builds(kind_dir: Path) -> None:
    """Remove temporary build dirs of killed builders (named ``.tmp-<key>-<pid>``)."""
    for entry in kind_dir.glob(".tmp-*"):
        try:
            pid = int(entry.name.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            pid = 0
        if not pid_alive(pid):
            log(f"removing stale partial build {entry}")
            _discard(entry)


def debootstrap(target: Path, packages: Sequence[str]) -> None:
    """``debootstrap --variant=minbase`` the suite into ``target`` with ``packages`` included."""
    cmd = ["debootstrap", "--variant=minbase"]
    if packages:
        cmd.append("--include=" + ",".join(sorted(set(packages))))
    cmd += [SUITE, str(target), MIRROR]
    log(" ".join(cmd))
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-30:])
        debootstrap_log = target / "debootstrap" / "debootstrap.log"
        if debootstrap_log.exists():
            tail += "\n--- debootstrap.log ---\n" + "\n".join(debootstrap_log.read_text().splitlines()[-30:])
        raise RuntimeError(f"debootstrap failed ({res.returncode}):\n{tail}")


def slim(root: Path) -> None:
    """Drop downloaded .debs and apt lists: they are not needed at run time."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"):
        for f in root.glob(pattern):
            f.unlink(missing_ok=True)


def cached_tree(
    kind: str,
    packages: Sequence[str],
    version: str,
    customize: Callable[[Path], None] | None = None,
    *,
    extra_key: str = "",
    rebuild: bool = False,
) -> Path:
    """Return ``CACHE_ROOT/kind/<key>`` holding a complete tree, building it when missing.

    The tree itself is ``<returned dir>/rootfs``; ``customize(rootfs)`` runs before the atomic
    rename, so its result is part of the cache.
    """
    kind_dir = CACHE_ROOT / kind
    key = cache_key(packages, version, extra_key)
    final = kind_dir / key
    with file_lock(kind_dir / f".{key}.lock"):
        if rebuild and final.exists():
            shutil.rmtree(final)
        if (final / STAMP).exists():
            log(f"{kind} cache hit: {final}")
            return final
        if final.exists():  # no stamp: not ours or damaged; never trust it
            shutil.rmtree(final)
        _remove_stale_builds(kind_dir)
        tmp = kind_dir / f".tmp-{key}-{os.getpid()}"
        _discard(tmp)
        tmp.mkdir(parents=True)
        try:
            with timed(f"debootstrap {kind} ({len(packages)} packages)"):
                debootstrap(tmp / "rootfs", packages)
            slim(tmp / "rootfs")
            if customize:
                customize(tmp / "rootfs")
            meta = {"packages": sorted(set(packages)), "suite": SUITE, "version": version, "built": time.time()}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
            (tmp / STAMP).write_text(key + "\n")
            tmp.rename(final)
        except BaseException:
            _discard(tmp)
            raise
        log(f"{kind} cached at {final}")
        return final
