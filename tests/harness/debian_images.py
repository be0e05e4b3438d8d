"""Local container images built from Debian packages (no registry is reachable here).

``ensure_image(host, user, "localhost/qs-python:trixie", ["python3"])`` debootstraps a minimal
Debian trixie tree with those packages (cached under ``/var/cache/quadstats/images/<hash>/``,
``hash`` = package list + builder version), tars it once, and ``podman import``s the tar into the
**rootless** storage of ``user`` on a target host, as that user over SSH (the way Ansible's
``become_user`` reaches it). The image carries the harness's content label (``harness.images``:
``quadstats.content-hash=<hash>``); when the user already has the reference with the same label the
import is skipped.

Later issues add images (PostgreSQL + TimescaleDB, Prometheus, ...) by calling the same function
with other package lists.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.images import LABEL, PodmanRunner, add_files, content_hash, has_content, import_image, json_instruction
from harness.rootfs import STAMP, cached_tree, log, timed

if TYPE_CHECKING:
    from harness.target_host import TargetHost

IMAGE_BUILDER_VERSION = "1"
DEFAULT_PACKAGES: tuple[str, ...] = ("python3",)
# Never needed inside an application container; dropping them roughly halves the tar.
_DROP = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/debconf/templates.dat-old")


def _finish(root: Path) -> None:
    for rel in _DROP:
        p = root / rel
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    (root / "etc/hostname").write_text("localhost\n")
    tar = root.parent / "image.tar"
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tar), "."], check=True)
    shutil.rmtree(root)  # only the tar is needed from now on


def image_tarball(packages: Sequence[str] = DEFAULT_PACKAGES) -> tuple[Path, str]:
    """Path of the cached image tar for ``packages`` and its content hash (built on first use)."""
    tree = cached_tree("images", list(packages), IMAGE_BUILDER_VERSION, _finish)
    return tree / "image.tar", (tree / STAMP).read_text().strip()


def normalize_ref(image: str) -> str:
    ref = image if "/" in image.split(":", 1)[0] else f"localhost/{image}"
    if ":" not in ref.rsplit("/", 1)[1]:
        ref += ":latest"
    if not ref.startswith("localhost/"):
        raise ValueError(f"{image!r}: local images are named localhost/<name>:<tag>")
    return ref


def _with_files(content: str, files: Mapping[str, bytes], entrypoint: Sequence[str]) -> str:
    """Content hash of the package tar plus extra files and an entrypoint (the package hash alone without them)."""
    if not files and not entrypoint:
        return content
    return content_hash(
        content, *(part for name in sorted(files) for part in (name, files[name])), "entrypoint", *entrypoint
    )


def user_podman(host: TargetHost, user: str) -> PodmanRunner:
    """A podman runner for ``user``'s rootless storage on ``host``, over SSH as Ansible's ``become_user`` is."""
    as_user = host.user_env(user)

    def podman(args: Sequence[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
        if stdin is not None:
            raise ValueError("user_podman: stage the tar in the target and pass its path instead of stdin")
        return host.ssh(f"{as_user} podman {shlex.join(args)}", check=False)

    return podman


def ensure_image(
    host: TargetHost,
    user: str,
    image: str,
    packages: Sequence[str] = DEFAULT_PACKAGES,
    cmd: Sequence[str] = ("/usr/bin/python3",),
    *,
    files: Mapping[str, bytes] | None = None,
    entrypoint: Sequence[str] = (),
) -> str:
    """Make ``image`` (``localhost/<name>:<tag>``) exist in ``user``'s rootless storage on ``host``.

    ``files`` (path inside the image -> content; parent directories must exist in the Debian tree,
    files under ``usr/bin/`` are executable) are added on top of the cached package tar at import time,
    and ``entrypoint`` is set; both are part of the content hash. Returns the full reference. Skips the
    import when the user's image has the same content hash.
    """
    ref = normalize_ref(image)
    files = dict(files or {})
    with timed(f"image {ref}: rootfs/tar cache"):
        tar, content = image_tarball(packages)
    content = _with_files(content, files, entrypoint)
    podman = user_podman(host, user)
    if has_content(podman, ref, content):
        log(f"image {ref}: already imported for {user} ({LABEL}={content})")
        return ref
    staged_rel = Path("var/tmp") / f"quadstats-image-{content}.tar"
    staged = host.rootfs / staged_rel
    with timed(f"image {ref}: import for {user}"):
        shutil.copyfile(tar, staged)
        staged.chmod(0o644)
        try:
            if files:
                with tarfile.open(staged, "a") as archive:
                    add_files(archive, files)
            changes = [json_instruction("ENTRYPOINT", entrypoint)] if entrypoint else []
            if cmd:
                changes.append(json_instruction("CMD", cmd))
            import_image(podman, ref, content, f"/{staged_rel}", changes=changes)
        finally:
            staged.unlink(missing_ok=True)
    return ref
