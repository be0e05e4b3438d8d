"""Local podman images built without a registry (busybox-static based, reusable by other harness code).

``build_busybox_image("localhost/qs-busybox:1")`` makes a root filesystem holding ``/bin/busybox``
(Debian's ``busybox-static``) plus a symlink per applet, and ``podman import``s it. The image carries
a label with a hash of its inputs (the busybox binary, the applet list, extra files, the builder
version); when an image of that reference with the same hash exists, nothing is rebuilt.

Every podman call goes through ``podman_argv`` (e.g. ``["podman"]`` or
``["sudo", "-u", "alice", "podman"]`` or ``["nsenter", "-t", PID, "-a", "--", "podman"]``) with
``env`` (e.g. ``CONTAINERS_CONF``), so the same helper serves rootful, rootless and target-host use.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

BUILDER_VERSION = "1"
INPUTS_LABEL = "io.quadstats.inputs"
BUSYBOX = "/bin/busybox"
# Directories every image gets (podman mounts /proc, /sys, /dev, /dev/shm over them).
BASE_DIRS = ("bin", "dev", "etc", "proc", "sys", "tmp", "var/tmp", "root", "data")


def run_podman(podman_argv: Sequence[str], args: Sequence[str], env: Mapping[str, str] | None = None, **kwargs):
    """Run ``podman_argv + args`` with ``env`` added to the current environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([*podman_argv, *args], env=full_env, check=False, capture_output=True, **kwargs)


def image_label(ref: str, label: str, podman_argv: Sequence[str] = ("podman",), env=None) -> str | None:
    """The value of ``label`` on image ``ref``, or None when the image does not exist."""
    fmt = "{{index .Labels " + '"' + label + '"' + "}}"
    proc = run_podman(podman_argv, ["image", "inspect", "--format", fmt, ref], env, text=True)
    if proc.returncode != 0:
        return None
    value = proc.stdout.strip()
    return "" if value == "<no value>" else value


def rootfs_tar(files: Mapping[str, bytes | Path], symlinks: Mapping[str, str], dirs: Sequence[str]) -> bytes:
    """A tar of a root filesystem built in memory (deterministic: fixed mtimes, sorted entries)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory in sorted(set(dirs)):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory in ("tmp", "var/tmp") else 0o755
            tar.addfile(info)
        for name in sorted(files):
            data = files[name]
            content = data.read_bytes() if isinstance(data, Path) else data
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o755 if name.startswith("bin/") else 0o644
            tar.addfile(info, io.BytesIO(content))
        for name in sorted(symlinks):
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = symlinks[name]
            tar.addfile(info)
    return buf.getvalue()


def import_tar(
    ref: str,
    tar_bytes: bytes,
    inputs_hash: str,
    *,
    podman_argv: Sequence[str] = ("podman",),
    env: Mapping[str, str] | None = None,
    changes: Sequence[str] = (),
) -> str:
    """``podman import`` a root filesystem tar as ``ref`` labelled with ``inputs_hash``; skip when the
    existing image has the same hash. Returns ``ref``."""
    if image_label(ref, INPUTS_LABEL, podman_argv, env) == inputs_hash:
        return ref
    args = ["import", "--quiet", "--change", f"LABEL {INPUTS_LABEL}={inputs_hash}"]
    for change in changes:
        args += ["--change", change]
    proc = run_podman(podman_argv, [*args, "-", ref], env, input=tar_bytes)
    if proc.returncode != 0:
        raise RuntimeError(f"podman import {ref} failed: {proc.stderr.decode(errors='replace').strip()}")
    return ref


def busybox_applets(busybox: str = BUSYBOX) -> list[str]:
    """The applets this busybox binary provides."""
    out = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout
    return sorted(name for name in out.split() if name and "/" not in name and name != "busybox")


def build_busybox_image(
    ref: str,
    podman_argv: Sequence[str] = ("podman",),
    env: Mapping[str, str] | None = None,
    *,
    busybox: str = BUSYBOX,
    extra_files: Mapping[str, bytes] | None = None,
    cmd: str = "/bin/sh",
) -> str:
    """Build (or reuse) a busybox image without a registry. Returns ``ref``.

    Needs the ``busybox-static`` Debian package (``/bin/busybox`` statically linked).
    """
    binary = Path(busybox)
    if not binary.exists():
        raise RuntimeError(f"{busybox} not found: apt-get install busybox-static")
    applets = busybox_applets(busybox)
    files: dict[str, bytes | Path] = {
        "bin/busybox": binary,
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
    }
    files.update(extra_files or {})
    digest = hashlib.sha256()
    digest.update(BUILDER_VERSION.encode())
    digest.update(binary.read_bytes())
    digest.update("\n".join(applets).encode())
    digest.update(cmd.encode())
    for name in sorted(extra_files or {}):
        digest.update(name.encode() + b"\0" + (extra_files or {})[name])
    inputs_hash = digest.hexdigest()[:16]
    if image_label(ref, INPUTS_LABEL, podman_argv, env) == inputs_hash:
        return ref
    symlinks = {f"bin/{name}": "busybox" for name in applets}
    tar_bytes = rootfs_tar(files, symlinks, BASE_DIRS)
    return import_tar(ref, tar_bytes, inputs_hash, podman_argv=podman_argv, env=env, changes=[f'CMD ["{cmd}"]'])
