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

import secrets
import shlex
import time

from harness.trixie_container import TrixieContainer, free_tcp_port, podman_available

PACKAGES = ("postgresql-17", "postgresql-17-timescaledb")
IMAGE = "localhost/qs-backend-timescaledb:17"
NAME_PREFIX = "qs-backend-pg-"
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
__all__ = ["TimescaleDB", "free_tcp_port", "podman_available"]


def _startup_script(port: int) -> str:
    settings = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in {**SERVER_SETTINGS, "port": str(port)}.items())
    return (
        "set -e; "
        f"if [ ! -s {PGDATA}/PG_VERSION ]; then "
        f"{PG_BIN}/initdb -D {PGDATA} -U postgres --auth-local=trust --auth-host=scram-sha-256 "
        "--pwfile=/run/secrets/pgpass --encoding=UTF8 --locale=C.UTF-8 >/dev/null; fi; "
        f"exec {PG_BIN}/postgres -D {PGDATA} {settings}"
    )


class TimescaleDB(TrixieContainer):
    """One PostgreSQL + TimescaleDB server for a test session."""

    def __init__(self) -> None:
        super().__init__(PACKAGES, IMAGE, NAME_PREFIX)
        self.password = secrets.token_urlsafe(24)
        self.port = free_tcp_port()
        self.host = "127.0.0.1"

    def start(self, timeout: float = 90) -> TimescaleDB:
        self.ensure_image()
        pwfile = self.dir / "pgpass"
        pwfile.write_text(self.password + "\n")
        # The directory stays root-only (0700 from mkdtemp); the file must be readable by the
        # container's postgres user.
        pwfile.chmod(0o644)
        self.run(
            ["--user", "postgres", "-v", f"{pwfile}:/run/secrets/pgpass:ro"],
            ["/bin/sh", "-c", _startup_script(self.port)],
        )
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
            if self.state() in ("exited", "stopped"):
                raise RuntimeError(f"PostgreSQL container {self.name} exited:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL in {self.name} not ready after {timeout} s")
            time.sleep(0.2)

    def restart(self, timeout: float = 90) -> None:
        """Stop and start the server process; data survives (it lives in the container's layer)."""
        self.podman("restart", "--time", "10", self.name)
        self.wait_ready(timeout)

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
