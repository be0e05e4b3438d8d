"""The OneFS core imports on a bare python3 without Ansible (a target, or the exporter image)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CORE = ["errors", "exposition", "groups", "metadata", "papi_client", "query", "samples", "sampler", "ansible_params"]


def test_core_imports_with_python3_isolated_and_no_ansible():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / '.venv')!r})\n"
        "import importlib\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module('ansible_collections.quadstats.stack.plugins.module_utils.onefs.' + name)\n"
        "print(sorted(m for m in sys.modules if m == 'ansible' or m.startswith('ansible.')))\n"
    )
    proc = subprocess.run(["/usr/bin/python3", "-I", "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
