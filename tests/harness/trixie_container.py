"""Rootful podman containers on this machine from local Debian trixie images (no registry here).

``TrixieContainer(packages, image, prefix)`` imports the cached debootstrap tar of ``packages``
(``harness.debian_images.image_tarball``) as ``image`` once per content hash, runs it on the host
network under the machine's test ``containers.conf`` (``harness.images.machine_podman_env``) and
removes it with ``stop()``. Subclasses say what to run and when it is ready (``harness.timescaledb``,
``harness.prometheus``).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from harness.debian_images import image_tarball
from harness.images import image_label, machine_podman_env, run_podman
from harness.rootfs import log, timed

LABEL = "io.quadstats.inputs"
TEST_LABEL = "io.quadstats.test=qs-backend"


def podman_available() -> bool:
    return shutil.which("podman") is not None and shutil.which("runc") is not None and os.geteuid() == 0


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TrixieContainer:
    """One named container of a local trixie image, with its own scratch directory."""

    def __init__(self, packages: Sequence[str] | None, image: str, prefix: str, image_version: str = "1") -> None:
        """``packages`` None: ``image`` is built elsewhere (e.g. ``harness.services_image``) and used as is."""
        self.packages, self.image, self.image_version = packages, image, image_version
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.env = machine_podman_env()
        self.name = prefix + uuid.uuid4().hex[:8]
        self.started = False

    def podman(self, *args: str, check: bool = True, timeout: float = 120):
        # conmon (podman 4.3) drops an "oom" marker into its working directory: keep it in ours
        # (made again if something removed it meanwhile, so a clean-up never fails on a missing cwd).
        self.dir.mkdir(parents=True, exist_ok=True)
        proc = run_podman(["podman"], list(args), self.env, text=True, cwd=self.dir, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: {proc.stderr.strip()}")
        return proc

    def ensure_image(self) -> str:
        if self.packages is None:
            return self.image
        with timed(f"image {self.image}: rootfs/tar cache"):
            tar, content = image_tarball(tuple(self.packages))
        inputs = f"{content}-{self.image_version}"
        if image_label(self.image, LABEL, env=self.env) == inputs:
            log(f"image {self.image}: present ({LABEL}={inputs})")
            return self.image
        with timed(f"image {self.image}: podman import"):
            self.podman("import", "--quiet", "--change", f"LABEL {LABEL}={inputs}", str(tar), self.image, timeout=600)
        return self.image

    def run(self, options: Sequence[str], command: Sequence[str]) -> None:
        """``podman run -d [options] IMAGE command`` on the host network."""
        self.ensure_image()
        self.podman(
            "run", "-d", "--name", self.name, "--label", TEST_LABEL, "--network", "host", *options, self.image, *command
        )  # fmt: skip
        self.started = True

    def state(self) -> str:
        return self.podman("inspect", "--format", "{{.State.Status}}", self.name, check=False).stdout.strip()

    def logs(self, tail: int = 30) -> str:
        proc = self.podman("logs", "--tail", str(tail), self.name, check=False)
        return proc.stdout + proc.stderr

    def stop(self) -> None:
        if self.started:
            self.podman("rm", "-f", "-t", "0", self.name, check=False)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
