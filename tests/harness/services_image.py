"""The services image, built here by the real ``podman build -f services/Containerfile`` (no registry).

The Containerfile's default base (``docker.io/library/debian:trixie-slim``) cannot be pulled here, so
``base_image()`` debootstraps a minimal trixie tree (``harness.debian_images.image_tarball`` with no
extra package: what a slim image holds) and imports it into rootful podman as
``localhost/qs-trixie-base:<hash>``. ``build_services_image()`` then runs

    podman build --pull=never --build-arg BASE=localhost/qs-trixie-base:<hash> \\
        --build-arg VERSION=<galaxy.yml version> -f services/Containerfile <collection root>

unchanged, so the Containerfile users build is the one under test: its ``apt-get`` reaches Debian's
archive from inside the build. The result carries ``quadstats.content-hash`` (``harness.images``)
over the Containerfile, ``.containerignore``, every file the build copies, the base and the build
arguments; a re-run with the same hash skips the build.

``load_into_target(host, user, ref)`` ships the built image into a rootless user's storage on a
Debian 13 target (``podman save`` into the target's ``/var/tmp``, ``podman load`` as the user over
SSH, as ``debian_images.ensure_image`` does for imports), skipped when the user has the same hash.

By hand (as root, from ``tests/``): ``python -m harness.services_image [--ref REF] [--root DIR]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from harness.debian_images import image_tarball, user_podman
from harness.images import (
    LABEL,
    content_hash,
    has_content,
    image_label,
    import_image,
    json_instruction,
    local_podman,
    machine_podman_env,
)
from harness.rootfs import CACHE_ROOT, file_lock, log, timed

if TYPE_CHECKING:
    from harness.target_host import TargetHost

BUILDER_VERSION = "1"
REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = "services/Containerfile"
CONTAINERIGNORE = ".containerignore"
# What the Containerfile copies (keep in step with its COPY lines and .containerignore; the
# integration test compares the image's tree with context_files()).
COPIED = ("plugins/module_utils", "services")
# .containerignore's exclusions inside the copied trees: bytecode, and dot files such as a ruff cache.
SKIPPED_SUFFIXES = (".pyc",)
IMAGE_ROOT = "/opt/quadstats/ansible_collections/quadstats/stack"
BASE_REPO = "localhost/qs-trixie-base"
IMAGE = "localhost/qs-img-services:test"


def collection_version(root: Path = REPO) -> str:
    """The collection version: galaxy.yml in a checkout, MANIFEST.json in an installed collection."""
    galaxy = root / "galaxy.yml"
    if galaxy.exists():
        return str(yaml.safe_load(galaxy.read_text())["version"])
    manifest = root / "MANIFEST.json"
    if manifest.exists():
        return str(json.loads(manifest.read_text())["collection_info"]["version"])
    raise FileNotFoundError(f"{root}: neither galaxy.yml nor MANIFEST.json; is it a collection root?")


def context_files(root: Path = REPO) -> list[str]:
    """Paths (relative to ``root``) of the files the build copies into the image, sorted."""
    found = []
    for top in COPIED:
        for path in (root / top).rglob("*"):
            rel = path.relative_to(root)
            skipped = any(part == "__pycache__" or part.startswith(".") for part in rel.parts)
            if path.is_file() and not skipped and path.suffix not in SKIPPED_SUFFIXES:
                found.append(rel.as_posix())
    return sorted(found)


def base_image(podman_argv: Sequence[str] = ("podman",), env: Mapping[str, str] | None = None) -> str:
    """``localhost/qs-trixie-base:<hash>``: a debootstrapped trixie minbase (the stand-in for
    ``debian:trixie-slim``), imported once per content hash. Returns the reference."""
    with timed("services image: trixie base rootfs/tar cache"):
        tar, content = image_tarball(())
    ref = f"{BASE_REPO}:{content}"
    podman = local_podman(podman_argv, env)
    if has_content(podman, ref, content):
        log(f"base {ref}: present")
        return ref
    with timed(f"base {ref}: podman import"):
        # bash as the command, as the slim image has it
        return import_image(podman, ref, content, str(tar), changes=[json_instruction("CMD", ["bash"])])


def inputs_hash(root: Path, base_ref: str, build_args: Mapping[str, str]) -> str:
    """Content hash over everything that decides the image's content."""
    parts: list[str | bytes] = [BUILDER_VERSION, base_ref]
    parts += [f"{key}={build_args[key]}" for key in sorted(build_args)]
    for rel in (CONTAINERFILE, CONTAINERIGNORE, *context_files(root)):
        parts += [rel, (root / rel).read_bytes()]
    return content_hash(*parts)


def _podman_build(argv: Sequence[str], env: Mapping[str, str] | None) -> None:
    """Run a build, echoing its output as it comes (apt's progress), raising with the tail on failure."""
    tail: collections.deque[str] = collections.deque(maxlen=60)
    with subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        for line in proc.stdout or ():
            tail.append(line.rstrip())
            log(f"build: {line.rstrip()}")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n" + "\n".join(tail))


def image_id(ref: str, podman_argv: Sequence[str] = ("podman",), env: Mapping[str, str] | None = None) -> str | None:
    proc = local_podman(podman_argv, env)(["image", "inspect", "--format", "{{.Id}}", ref], None)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def build_services_image(
    ref: str = IMAGE,
    root: Path = REPO,
    podman_argv: Sequence[str] = ("podman",),
    env: Mapping[str, str] | None = None,
) -> str:
    """Build (or keep) ``ref`` from ``root``'s ``services/Containerfile`` with the local trixie base.

    ``root`` is a collection root: a checkout or an installed collection. Returns ``ref``.
    """
    root = Path(root)
    env = dict(env if env is not None else machine_podman_env())
    base = base_image(podman_argv, env)
    build_args = {"BASE": base, "VERSION": collection_version(root)}
    content = inputs_hash(root, base, build_args)
    podman = local_podman(podman_argv, env)
    # one builder per ref at a time: scenarios running side by side build the same ref (and the loser's rmi of
    # the replaced build must not remove the image the other has just tagged)
    with file_lock(CACHE_ROOT / "services-image" / (ref.replace("/", "_").replace(":", "_") + ".lock")):
        if has_content(podman, ref, content):
            log(f"image {ref}: present ({LABEL}={content})")
            return ref
        previous = image_id(ref, podman_argv, env)
        argv = [*podman_argv, "build", "--pull=never", "--label", f"{LABEL}={content}", "-t", ref]
        argv += [f"--build-arg={key}={value}" for key, value in sorted(build_args.items())]
        argv += ["-f", str(root / CONTAINERFILE), str(root)]
        with timed(f"image {ref}: podman build from {root}"):
            _podman_build(argv, env)
        if previous and previous != image_id(ref, podman_argv, env):
            podman(["rmi", previous], None)  # the replaced build; fails harmlessly when still in use
    return ref


def image_size(ref: str, podman_argv: Sequence[str] = ("podman",), env: Mapping[str, str] | None = None) -> int:
    """The image's size in bytes as podman reports it (uncompressed layers)."""
    proc = local_podman(podman_argv, env)(["image", "inspect", "--format", "{{.Size}}", ref], None)
    if proc.returncode != 0:
        raise RuntimeError(f"podman image inspect {ref}: {proc.stderr.decode(errors='replace').strip()}")
    return int(proc.stdout.decode().strip())


def load_into_target(
    host: TargetHost,
    user: str,
    ref: str = IMAGE,
    podman_argv: Sequence[str] = ("podman",),
    env: Mapping[str, str] | None = None,
) -> str:
    """Make the locally built ``ref`` exist in ``user``'s rootless storage on ``host``. Returns ``ref``."""
    env = dict(env if env is not None else machine_podman_env())
    content = image_label(ref, LABEL, podman_argv, env)
    if not content:
        raise RuntimeError(f"{ref} is not built here: build_services_image({ref!r}) first")
    target_podman = user_podman(host, user)
    if has_content(target_podman, ref, content):
        log(f"image {ref}: already loaded for {user} on {host.name} ({LABEL}={content})")
        return ref
    staged_rel = Path("var/tmp") / f"quadstats-services-{content}.tar"
    staged = host.rootfs / staged_rel
    with timed(f"image {ref}: save + load for {user} on {host.name}"):
        try:
            staged.unlink(missing_ok=True)
            saved = local_podman(podman_argv, env)(["save", "--quiet", "-o", str(staged), ref], None)
            if saved.returncode != 0:
                raise RuntimeError(f"podman save {ref}: {saved.stderr.decode(errors='replace').strip()}")
            staged.chmod(0o644)
            loaded = target_podman(["load", "--quiet", "-i", f"/{staged_rel}"], None)
            if loaded.returncode != 0:
                raise RuntimeError(f"{host.name}: podman load as {user}: {loaded.stderr.strip()}")
        finally:
            staged.unlink(missing_ok=True)
    return ref


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness.services_image", description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default=IMAGE, help=f"image reference to build (default {IMAGE})")
    parser.add_argument("--root", type=Path, default=REPO, help="collection root (checkout or installed)")
    args = parser.parse_args(argv)
    ref = build_services_image(args.ref, args.root)
    print(json.dumps({"image": ref, "size_bytes": image_size(ref)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
