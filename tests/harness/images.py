"""Local podman images built without a registry, and the one content-label scheme every harness image uses.

Every image the harness imports carries the label ``quadstats.content-hash`` (``LABEL``): 16 hex digits
of SHA-256 over everything that went into it (``content_hash``). Before importing, the caller asks
``has_content``; an image of that reference with the same hash is kept as it is. Both builders use it:
``build_busybox_image`` here (rootful or rootless podman on this machine) and
``harness.debian_images.ensure_image`` (a rootless user on a target host, over SSH).

``build_busybox_image("localhost/qs-busybox:1")`` makes a root filesystem holding ``/bin/busybox``
(Debian's ``busybox-static``) plus a symlink per applet, and ``podman import``s it.

Podman is reached through a runner, ``podman(args, stdin) -> CompletedProcess``: ``local_podman`` runs
``podman_argv + args`` (e.g. ``["podman"]``, ``["sudo", "-u", "alice", "podman"]`` or
``["nsenter", "-t", PID, "-a", "--", "podman"]``) with ``env`` (e.g. ``CONTAINERS_CONF``) added;
``debian_images`` passes one that runs podman over SSH as the target's rootless user.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

BUILDER_VERSION = "1"
LABEL = "quadstats.content-hash"
BUSYBOX = "/bin/busybox"
# Directories every image gets (podman mounts /proc, /sys, /dev, /dev/shm over them).
BASE_DIRS = ("bin", "dev", "etc", "proc", "sys", "tmp", "var/tmp", "root", "data")

PodmanRunner = Callable[[Sequence[str], "bytes | None"], subprocess.CompletedProcess]


def content_hash(*parts: str | bytes) -> str:
    """16 hex digits of SHA-256 over ``parts``, each length-prefixed (``("ab", "c")`` differs from ``("a", "bc")``)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:16]


def json_instruction(instruction: str, argv: Sequence[str]) -> str:
    """A ``podman import --change`` value such as ``CMD=["/bin/sh"]`` (compact JSON: no spaces to split at)."""
    return f"{instruction}={json.dumps(list(argv), separators=(',', ':'))}"


def run_podman(podman_argv: Sequence[str], args: Sequence[str], env: Mapping[str, str] | None = None, **kwargs):
    """Run ``podman_argv + args`` with ``env`` added to the current environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([*podman_argv, *args], env=full_env, check=False, capture_output=True, **kwargs)


def local_podman(podman_argv: Sequence[str] = ("podman",), env: Mapping[str, str] | None = None) -> PodmanRunner:
    """A podman runner for this machine (``podman_argv + args``, ``env`` added)."""

    def podman(args: Sequence[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
        return run_podman(podman_argv, args, env, input=stdin)

    return podman


def _label_of(podman: PodmanRunner, ref: str, label: str) -> str | None:
    fmt = "{{index .Labels " + json.dumps(label) + "}}"
    proc = podman(["image", "inspect", "--format", fmt, ref], None)
    if proc.returncode != 0:
        return None
    out = proc.stdout.decode(errors="replace") if isinstance(proc.stdout, bytes) else proc.stdout
    value = out.strip()
    return "" if value == "<no value>" else value


def image_label(ref: str, label: str, podman_argv: Sequence[str] = ("podman",), env=None) -> str | None:
    """The value of ``label`` on image ``ref``, or None when the image does not exist."""
    return _label_of(local_podman(podman_argv, env), ref, label)


def has_content(podman: PodmanRunner, ref: str, content: str) -> bool:
    """Whether image ``ref`` exists and carries ``LABEL=content`` (then there is nothing to import)."""
    return _label_of(podman, ref, LABEL) == content


def import_image(
    podman: PodmanRunner,
    ref: str,
    content: str,
    source: str = "-",
    *,
    changes: Sequence[str] = (),
    stdin: bytes | None = None,
) -> str:
    """``podman import`` the root filesystem tar ``source`` (``-``: ``stdin``) as ``ref`` with ``LABEL=content``
    and ``changes`` (``CMD=[...]``, ``ENTRYPOINT=[...]``). Returns ``ref``; raises on failure."""
    args = ["import", "--quiet", f"--change=LABEL={LABEL}={content}"]
    args += [f"--change={change}" for change in changes]
    proc = podman([*args, source, ref], stdin)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace") if isinstance(proc.stderr, bytes) else proc.stderr
        raise RuntimeError(f"podman import {ref} failed ({proc.returncode}): {(err or '').strip()}")
    return ref


def add_files(archive: tarfile.TarFile, files: Mapping[str, bytes | Path]) -> None:
    """Add ``files`` (path inside the image -> content) to ``archive``: sorted, mtime 0, executable under
    a ``bin/`` directory (``bin/``, ``usr/bin/``, ``usr/local/bin/``), else 0644."""
    for name in sorted(files):
        data = files[name]
        content = data.read_bytes() if isinstance(data, Path) else data
        info = tarfile.TarInfo(name.lstrip("/"))
        info.size = len(content)
        info.mode = 0o755 if info.name.startswith(("bin/", "usr/bin/", "usr/local/bin/")) else 0o644
        info.mtime = 0
        archive.addfile(info, io.BytesIO(content))


def rootfs_tar(files: Mapping[str, bytes | Path], symlinks: Mapping[str, str], dirs: Sequence[str]) -> bytes:
    """A tar of a root filesystem built in memory (deterministic: fixed mtimes, sorted entries)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory in sorted(set(dirs)):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory in ("tmp", "var/tmp") else 0o755
            tar.addfile(info)
        add_files(tar, files)
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
    podman = local_podman(podman_argv, env)
    if has_content(podman, ref, inputs_hash):
        return ref
    return import_image(podman, ref, inputs_hash, changes=changes, stdin=tar_bytes)


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
    extra = dict(extra_files or {})
    files: dict[str, bytes | Path] = {
        "bin/busybox": binary,
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
        **extra,
    }
    inputs_hash = content_hash(
        BUILDER_VERSION,
        binary.read_bytes(),
        "\n".join(applets),
        cmd,
        *(part for name in sorted(extra) for part in (name, extra[name])),
    )
    podman = local_podman(podman_argv, env)
    if has_content(podman, ref, inputs_hash):
        return ref
    tar_bytes = rootfs_tar(files, {f"bin/{name}": "busybox" for name in applets}, BASE_DIRS)
    return import_image(podman, ref, inputs_hash, changes=[json_instruction("CMD", [cmd])], stdin=tar_bytes)


# Rootful podman on this machine (docs/testing.md): runc, as crun refuses the machine's hybrid
# cgroups; ulimits within the machine's hard limits.
MACHINE_CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
"""


def machine_podman_env() -> dict[str, str]:
    """``CONTAINERS_CONF`` for rootful podman on this machine (one file per content, shared by runs)."""
    conf = Path(tempfile.gettempdir()) / f"qs-containers-{content_hash(MACHINE_CONTAINERS_CONF)}.conf"
    if not conf.exists():
        tmp = conf.with_name(f".{conf.name}.{os.getpid()}")
        tmp.write_text(MACHINE_CONTAINERS_CONF)
        tmp.rename(conf)
    return {"CONTAINERS_CONF": str(conf)}
