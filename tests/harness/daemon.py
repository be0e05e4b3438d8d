"""A service daemon as a real subprocess for integration tests (``python3 -m <module> --config FILE``):
its log (stderr) in a file the test reads, waits that fail with the log, signals, a SIGTERM stop;
secret files as the daemons want them and a parser of the Prometheus text pages they serve."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = "ansible_collections.quadstats.stack.services."
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)(?: (-?\d+))?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, labels dict, value float, timestamp ms or None)] of a Prometheus text page."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise AssertionError(f"not a Prometheus sample line: {line!r}")
        name, labels, value, stamp = match.groups()
        out.append((name, dict(_LABEL.findall(labels or "")), float(value), int(stamp) if stamp else None))
    return out


def secret_file(path, value):
    """Write ``value`` as a daemon's secret file (one trailing newline, mode 0600); its path as str."""
    path = Path(path)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


class DaemonProcess:
    """``python3 -m services.<service> --config config_path``; stderr to ``log_path``, stdout to
    ``stdout_path`` (or nowhere), the collection resolved through the worktree's ``.venv`` link."""

    def __init__(self, service, config_path, log_path, stdout_path=None, env=None):
        self.config_path = Path(config_path)
        self.log_path = Path(log_path)
        self.stdout_path = Path(stdout_path) if stdout_path else None
        full_env = {**os.environ, "PYTHONPATH": str(REPO / ".venv"), **(env or {})}
        with self.log_path.open("w") as stderr:
            stdout = self.stdout_path.open("w") if self.stdout_path else subprocess.DEVNULL
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", SERVICES + service, "--config", str(self.config_path)],
                    stdout=stdout,
                    stderr=stderr,
                    env=full_env,
                    cwd=str(REPO),
                )
            finally:
                if self.stdout_path:
                    stdout.close()

    def log(self):
        return self.log_path.read_text()

    def check_running(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")

    def wait_for(self, predicate, timeout=30, what="condition", interval=0.1):
        """Poll until ``predicate()`` is truthy and return it (readiness, not a timing assertion);
        an OSError counts as not yet. Fails with the log when the daemon exits or time runs out."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_running()
            try:
                last = predicate()
                if last:
                    return last
            except OSError as exc:
                last = exc
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})\n{self.log()[-3000:]}")

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=30):
        """SIGTERM and wait: the exit status. A daemon that ignores SIGTERM is killed and fails the test."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"daemon ignored SIGTERM for {timeout} s:\n{self.log()[-3000:]}") from None
        return self.proc.returncode
