# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every core module imports on the system python3 in isolated mode, with no Ansible installed.

The exporter daemons and the backend run the cores in an image without Ansible; this proves the
cores need nothing from it (and print nothing, and configure no logging handler on import).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MODULE_UTILS = REPO / "plugins" / "module_utils"
SYSTEM_PYTHON = "/usr/bin/python3"

PROBE = r"""
import importlib, json, logging, sys
root = sys.argv[1]
sys.path.insert(0, root)
names = sys.argv[2:]
for name in names:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m == "ansible" or m.startswith("ansible."))
handlers = [n for n, lg in logging.root.manager.loggerDict.items()
            if isinstance(lg, logging.Logger) and lg.handlers]
print(json.dumps({"ansible_modules": loaded, "handlers": handlers, "root_handlers": len(logging.root.handlers)}))
"""


def core_module_names():
    names = []
    for path in sorted(MODULE_UTILS.rglob("*.py")):
        rel = path.relative_to(MODULE_UTILS).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        names.append(".".join(["ansible_collections.quadstats.stack.plugins.module_utils", *parts]).rstrip("."))
    return names


def test_every_core_module_imports_without_ansible(tmp_path):
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip("no system python3")
    probe = subprocess.run([SYSTEM_PYTHON, "-I", "-c", "import ansible"], capture_output=True, check=False)
    assert probe.returncode != 0, "the system python3 has ansible installed; this test needs one without it"
    # A private collection root holding only this tree: nothing else on the path.
    root = tmp_path / "root"
    (root / "ansible_collections" / "quadstats").mkdir(parents=True)
    (root / "ansible_collections" / "quadstats" / "stack").symlink_to(REPO)
    names = core_module_names()
    assert len(names) > 10
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", PROBE, str(root), *names], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out_lines = proc.stdout.strip().splitlines()
    assert len(out_lines) == 1, f"a core printed on import: {out_lines[:-1]}"
    result = json.loads(out_lines[0])
    assert result == {"ansible_modules": [], "handlers": [], "root_handlers": 0}
