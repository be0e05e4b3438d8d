"""A real PostgreSQL 17 + TimescaleDB (Debian trixie packages) in a rootful podman container on this machine.

``TimescaleDB.start()`` makes sure the image ``localhost/qs-backend-timescaledb:17`` exists (a
debootstrapped trixie tree with ``postgresql-17`` and ``postgresql-17-timescaledb``, cached by
``harness.debian_images.image_tarball`` and imported once per content hash), then runs it with
the host network on ``127.0.0.1:<free port>`` with a throwaway superuser password, and waits until
it accepts connections. ``stop()`` removes the container and its files. ``restart()`` restarts the
server process keeping its data (for tests of what survives a database restart).

Run by hand: ``python -m harness.timescaledb`` (from ``tests/``) builds/imports the image, starts a
server, prints its DSN and waits for Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path

from harness.debian_images import image_tarball
from harness.images import image_label, run_podman
from harness.rootfs import log, timed

PACKAGES = ("postgresql-17", "postgresql-17-timescaledb")
IMAGE = "localhost/qs-backend-timescaledb:17"
LABEL = "io.quadstats.inputs"
IMAGE_VERSION = "1"  # bump when the import below changes
NAME_PREFIX = "qs-backend-pg-"
TEST_LABEL = "io.quadstats.test=qs-backend"
# runc: crun refuses the machine's hybrid cgroups; ulimits within the machine's hard limits.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
"""
PG_BIN = "/usr/lib/postgresql/17/bin"
PGDATA = "/var/lib/postgresql/qs-data"
# Durability is not under test here; these make a test server several times faster.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_preload_libraries": "timescaledb",
    "timescaledb.telemetry_level": "off",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "unix_socket_directories": "/tmp",
}


def podman_available() -> bool:
    return shutil.which("podman") is not None and shutil.which("runc") is not None and os.geteuid() == 0


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _startup_script(port: int) -> str:
    settings = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in {**SERVER_SETTINGS, "port": str(port)}.items())
    return (
        "set -e; "
        f"if [ ! -s {PGDATA}/PG_VERSION ]; then "
        f"{PG_BIN}/initdb -D {PGDATA} -U postgres --auth-local=trust --auth-host=scram-sha-256 "
        "--pwfile=/run/secrets/pgpass --encoding=UTF8 --locale=C.UTF-8 >/dev/null; fi; "
        f"exec {PG_BIN}/postgres -D {PGDATA} {settings}"
    )


class TimescaleDB:
    """One PostgreSQL + TimescaleDB server for a test session."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="qs-backend-pg-"))
        (self.dir / "containers.conf").write_text(CONTAINERS_CONF)
        self.env = {"CONTAINERS_CONF": str(self.dir / "containers.conf")}
        self.name = NAME_PREFIX + uuid.uuid4().hex[:8]
        self.password = secrets.token_urlsafe(24)
        self.port = free_tcp_port()
        self.host = "127.0.0.1"
        self.started = False

    # -- podman ---------------------------------------------------------------------------------
    def podman(self, *args: str, check: bool = True, timeout: float = 120):
        # conmon (podman 4.3) drops an "oom" marker into its working directory: keep it in ours.
        proc = run_podman(["podman"], list(args), self.env, text=True, cwd=self.dir, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: {proc.stderr.strip()}")
        return proc

    def ensure_image(self) -> str:
        with timed(f"image {IMAGE}: rootfs/tar cache"):
            tar, content = image_tarball(PACKAGES)
        inputs = f"{content}-{IMAGE_VERSION}"
        if image_label(IMAGE, LABEL, env=self.env) == inputs:
            log(f"image {IMAGE}: present ({LABEL}={inputs})")
            return IMAGE
        with timed(f"image {IMAGE}: podman import"):
            self.podman("import", "--quiet", "--change", f"LABEL {LABEL}={inputs}", str(tar), IMAGE, timeout=600)
        return IMAGE

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout: float = 90) -> TimescaleDB:
        self.ensure_image()
        pwfile = self.dir / "pgpass"
        pwfile.write_text(self.password + "\n")
        # The directory stays root-only (0700 from mkdtemp); the file must be readable by the
        # container's postgres user.
        pwfile.chmod(0o644)
        self.podman(
            "run", "-d", "--name", self.name, "--label", TEST_LABEL, "--network", "host",
            "--user", "postgres", "-v", f"{pwfile}:/run/secrets/pgpass:ro",
            IMAGE, "/bin/sh", "-c", _startup_script(self.port),
        )  # fmt: skip
        self.started = True
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        """Poll ``pg_isready`` inside the container (readiness, not a timing assertion)."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self.podman(
                "exec", self.name, f"{PG_BIN}/pg_isready", "-q", "-h", self.host, "-p", str(self.port), check=False
            )
            if proc.returncode == 0:
                return
            state = self.podman("inspect", "--format", "{{.State.Status}}", self.name, check=False).stdout.strip()
            if state in ("exited", "stopped"):
                logs = self.podman("logs", "--tail", "30", self.name, check=False)
                raise RuntimeError(f"PostgreSQL container {self.name} exited:\n{logs.stdout}{logs.stderr}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL in {self.name} not ready after {timeout} s")
            time.sleep(0.2)

    def restart(self, timeout: float = 90) -> None:
        """Stop and start the server process; data survives (it lives in the container's layer)."""
        self.podman("restart", "--time", "10", self.name)
        self.wait_ready(timeout)

    def stop(self) -> None:
        if self.started:
            self.podman("rm", "-f", "-t", "0", self.name, check=False)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- connection strings ---------------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        pw = self.password if password is None else password
        return f"host={self.host} port={self.port} dbname={dbname} user={user} password={pw} connect_timeout=10"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run ``sql`` through ``psql`` inside the container (as the superuser, over the local socket)."""
        proc = self.podman(
            "exec", self.name, f"{PG_BIN}/psql",
            "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "/tmp", "-p", str(self.port),
            "-d", dbname, "-c", sql,
        )  # fmt: skip
        return proc.stdout.strip()


def main() -> None:
    server = TimescaleDB().start()
    try:
        print(server.dsn(), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
