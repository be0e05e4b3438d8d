"""The dashboards test runs the exporters the way their own tests do: reuse their helpers."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for sibling in ("containers", "container_exporter", "onefs_exporter"):
    path = str(HERE.parent / sibling)
    if path not in sys.path:
        sys.path.append(path)
