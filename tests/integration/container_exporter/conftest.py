"""The exporter tests reuse the containers tests' podman environment (podman_env.py)."""

from __future__ import annotations

import sys
from pathlib import Path

CONTAINERS_TESTS = str(Path(__file__).resolve().parent.parent / "containers")
if CONTAINERS_TESTS not in sys.path:
    sys.path.append(CONTAINERS_TESTS)
