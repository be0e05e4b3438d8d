"""Local container images built from Debian packages (no registry is reachable here).

``ensure_image(host, user, "localhost/qs-python:trixie", ["python3"])`` debootstraps a minimal
Debian trixie tree with those packages (cached under ``/var/cache/quadstats/images/<hash>/``,
``hash`` = package list + builder version), tars it once, and ``podman import``s the tar into the
**rootless** storage of ``user`` on a target host, as that user over SSH (the way Ansible's
``become_user`` reaches it). The image carries the label ``quadstats.content-hash=<hash>``; when
the user already has the reference with the same label the import is skipped.

Later issues add images (PostgreSQL + TimescaleDB, Prometheus, ...) by calling the same function
with other package lists.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.rootfs import STAMP, cached_tree, log, timed

if TYPE_CHECKING:
    from harness.target_host import TargetHost

IMAGE_BUILDER_VERSION = "1"
LABEL = "quadstats.content-hash"
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


def ensure_image(
    host: TargetHost,
    user: str,
    image: str,
    packages: Sequence[str] = DEFAULT_PACKAGES,
    cmd: Sequence[str] = ("/usr/bin/python3",),
) -> str:
    """Make ``image`` (``localhost/<name>:<tag>``) exist in ``user``'s rootless storage on ``host``.

    Returns the full reference. Skips the import when the user's image has the same content hash.
    """
    ref = normalize_ref(image)
    with timed(f"image {ref}: rootfs/tar cache"):
        tar, content = image_tarball(packages)
    as_user = host.user_env(user)
    inspect = host.ssh(
        f"{as_user} podman image inspect --format '{{{{ index .Labels \"{LABEL}\" }}}}' {shlex.quote(ref)}",
        check=False,
    )
    if inspect.returncode == 0 and inspect.stdout.strip() == content:
        log(f"image {ref}: already imported for {user} ({LABEL}={content})")
        return ref
    staged_rel = Path("var/tmp") / f"quadstats-image-{content}.tar"
    staged = host.rootfs / staged_rel
    with timed(f"image {ref}: import for {user}"):
        shutil.copyfile(tar, staged)
        staged.chmod(0o644)
        try:
            changes = [f"--change=LABEL={LABEL}={content}"]
            if cmd:
                changes.append("--change=CMD=" + shlex.quote(str(list(cmd)).replace("'", '"')))
            host.ssh(f"{as_user} podman import --quiet {' '.join(changes)} /{staged_rel} {shlex.quote(ref)}")
        finally:
            staged.unlink(missing_ok=True)
    return ref
