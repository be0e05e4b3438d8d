"""Where target hosts are recorded: one directory per host under ``STATE_ROOT`` and a machine-wide lock.

``STATE_ROOT/<name>/state.json`` lets another process reboot or tear a host down; the lock
(``STATE_ROOT/.lock``) serialises network index allocation and inventory writes across processes.
Callers read ``host_state.STATE_ROOT`` at call time, so a test can point it elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

STATE_ROOT = Path(os.environ.get("QS_HOSTS_DIR", "/var/lib/quadstats/hosts"))


@contextlib.contextmanager
def state_lock() -> Iterator[None]:
    """Exclusive machine-wide lock for allocating indexes and writing shared inventories."""
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with (STATE_ROOT / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def hosts_with_state() -> list[str]:
    """Names of the hosts that have a directory (booted, stopped or half torn down)."""
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.name for p in STATE_ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))


def recorded_indexes() -> set[int]:
    """Network indexes claimed in some host's ``state.json``."""
    used: set[int] = set()
    if STATE_ROOT.is_dir():
        for state in STATE_ROOT.glob("*/state.json"):
            with contextlib.suppress(ValueError, OSError, KeyError, TypeError):
                used.add(int(json.loads(state.read_text())["index"]))
    return used
