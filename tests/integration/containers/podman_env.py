"""Rootful podman on this machine for the container statistics integration tests.

A test-only containers.conf (runc: crun refuses hybrid cgroups; ulimits within the machine's hard
limits), a private ``podman system service`` socket, a local busybox image and helpers that start
labelled containers and remove them all at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from harness.images import build_busybox_image

IMAGE = "localhost/qs-busybox:stats"
REPO = Path(__file__).resolve().parents[3]
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
"""


def podman_available():
    return shutil.which("podman") is not None and shutil.which("runc") is not None and os.geteuid() == 0


def wait_for(predicate, timeout=20.0, interval=0.1, what="condition"):
    """Poll until ``predicate()`` is truthy (readiness, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(interval)


def block_device_of(path):
    """/dev node of the whole disk holding ``path`` (for a blkio throttle rule), or None."""
    st = os.stat(path)
    sys_dir = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    if not sys_dir.exists():
        return None
    real = sys_dir.resolve()
    if (real / "partition").exists():
        real = real.parent
    node = Path("/dev") / real.name
    return str(node) if node.exists() else None


class Podman:
    """One test session's podman: env, API socket, image, labelled containers.

    Defaults: rootful podman on this machine (test containers.conf, busybox image built here). A
    rootless user elsewhere (the container benchmark on a target) passes ``containers_conf=None``,
    an ``image`` already in its storage and a ``service_wrapper`` (e.g. ``systemd-run --scope``).
    """

    def __init__(self, containers_conf=CONTAINERS_CONF, image=None, service_wrapper=()):
        self.dir = Path(tempfile.mkdtemp(prefix="qs-containers-"))
        self.dir.chmod(0o755)  # others may traverse; the socket itself stays root-only
        self.env = {}
        if containers_conf:
            conf = self.dir / "containers.conf"
            conf.write_text(containers_conf)
            self.env["CONTAINERS_CONF"] = str(conf)
        self.run_id = uuid.uuid4().hex[:8]
        self.prefix = f"qsct-{self.run_id}-"
        self.label = f"io.quadstats.test={self.run_id}"
        self.socket = str(self.dir / "podman.sock")
        self.service_wrapper = list(service_wrapper)
        self.services = []
        try:
            self.image = image or build_busybox_image(IMAGE, env=self.env)
            self.start_service("unix://" + self.socket)
            wait_for(lambda: os.path.exists(self.socket), what="podman API socket")
        except BaseException:
            self.cleanup()
            raise

    def start_service(self, url):
        proc = subprocess.Popen(
            [*self.service_wrapper, "podman", "system", "service", "--time=0", url],
            env={**os.environ, **self.env},
            cwd=self.dir,  # conmon's "oom" marker lands here, not in the caller's directory
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.services.append(proc)
        return proc

    def podman(self, *args, check=True, timeout=60):
        proc = subprocess.run(
            ["podman", *args],
            env={**os.environ, **self.env},
            # conmon (podman 4.3) writes an "oom" marker file into its inherited working directory.
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: {proc.stderr.strip()}")
        return proc

    def run(self, name, command, *options):
        """Start a detached labelled container; returns its full name."""
        full = self.prefix + name
        self.podman("run", "-d", "--name", full, "--label", self.label, *options, self.image, "sh", "-c", command)
        return full

    def inspect(self, name):
        return json.loads(self.podman("inspect", name).stdout)[0]

    def cleanup(self):
        ids = self.podman("ps", "-aq", "--filter", "label=" + self.label, check=False).stdout.split()
        if ids:
            self.podman("rm", "-f", "-t", "0", *ids, check=False)
        for proc in self.services:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_tcp_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
