"""The bootstrap is idempotent and leaves the collection resolvable by FQCN from the working tree."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"


def test_warm_bootstrap_changes_nothing():
    stamp = VENV / ".quadstats-stamp"
    before = (stamp.read_text(), stamp.stat().st_mtime_ns, (VENV / "bin" / "python").stat().st_ino)
    result = subprocess.run(
        [ROOT / "scripts" / "bootstrap.sh"], capture_output=True, text=True, timeout=300, check=True
    )
    assert "all present" in result.stdout
    assert "up to date" in result.stdout
    assert "installing" not in result.stdout
    after = (stamp.read_text(), stamp.stat().st_mtime_ns, (VENV / "bin" / "python").stat().st_ino)
    assert before == after


def test_working_tree_resolves_as_quadstats_stack():
    link = VENV / "ansible_collections" / "quadstats" / "stack"
    assert link.resolve() == ROOT
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(VENV)
    out = subprocess.run(
        [Path(sys.executable).parent / "ansible-galaxy", "collection", "list", "quadstats.stack"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "quadstats.stack" in out
    assert str(VENV / "ansible_collections") in out


def test_venv_matches_the_lock():
    """Every package in the lock is installed at exactly its pinned version."""
    lock = {}
    for line in (ROOT / "requirements" / "controller.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[name.lower().replace("_", "-")] = version
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    ).stdout
    installed = {}
    for line in frozen.splitlines():
        if "==" in line:
            name, version = line.split("==")
            installed[name.lower().replace("_", "-")] = version
    mismatched = {n: (v, installed.get(n)) for n, v in lock.items() if installed.get(n) != v}
    assert not mismatched
    top = (ROOT / "requirements" / "controller.in").read_text()
    for line in top.splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert lock[name.lower()] == version, f"{name} pinned differently in .in and .lock"
