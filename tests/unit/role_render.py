"""Render a service role's templates for many cases in one ``ansible-playbook`` run (``role_render.yml``).

Each case is an inventory host (local connection) whose variables are the case's role variables; the role's
argument_specs, defaults, vars, ``validate`` tasks and Ansible's templating run for real. Shared by the role
render tests (tests/unit/onefs_exporter_role, tests/unit/container_exporter_role).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# podman_host_facts as podman_host sets them for the default service user.
HOST = {
    "podman_host_facts": {
        "user": "quadstats",
        "home": "/home/quadstats",
        "quadlet_dir": "/home/quadstats/.config/containers/systemd",
        "credentials_dir": "/var/lib/quadstats/quadstats",
    },
}


def render_role(role: str, cases: dict, templates: dict, derived: list, *, out: Path, secret: str) -> Path:
    """Render ``templates`` ({template: output name}) of ``roles/<role>`` for every case into ``out/<case>/``.

    Each case directory gets the rendered files and ``derived.json`` (the role variables named in ``derived``),
    or ``error.txt`` when a check failed. The run is at -vvv and must not show ``secret``.
    """
    role_dir = ROOT / "roles" / role
    common = {
        **HOST,
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "qs_role": role,
        "qs_role_dir": str(role_dir),
        "qs_out_dir": str(out),
        "qs_templates": [{"src": src, "dest": dest} for src, dest in templates.items()],
        "qs_derived": derived,
    }
    inventory = out / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {name: {**common, **case} for name, case in cases.items()}}}))
    result = subprocess.run(
        [Path(sys.executable).parent / "ansible-playbook", "-i", inventory, HERE / "role_render.yml", "-vvv"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    (out / "ansible.log").write_text(output)
    assert result.returncode == 0, output[-5000:]
    assert secret not in output, "a secret reached the -vvv output"
    return out


def rendered_case(out: Path, case: str, names: list) -> tuple:
    """The case's rendered files (text) in the order of ``names``, then derived.json; fails on a check's error."""
    error = out / case / "error.txt"
    assert not error.exists(), error.read_text()
    return (*((out / case / name).read_text() for name in names), json.loads((out / case / "derived.json").read_text()))


def assert_check_failed(out: Path, case: str, expected: list, *, secret: str, not_rendered: str) -> None:
    """The case failed a check with a message holding every ``expected`` text and not the secret; nothing rendered."""
    error = out / case / "error.txt"
    assert error.exists(), f"{case}: the checks passed, they must fail"
    message = error.read_text()
    for text in expected:
        assert text in message, message
    assert secret not in message
    assert not (out / case / not_rendered).exists()
