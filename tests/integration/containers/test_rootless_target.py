"""container_stats for a rootless user's quadlets on a real Debian 13 target (systemd-nspawn, over SSH).

Inside the target the container cgroups have no controllers (see docs/testing.md): CPU time from
cpu.stat is there, memory/pids/io statistics are not. The test asserts both facts openly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.target_host import TargetHost

pytestmark = [
    pytest.mark.target,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="booting systemd-nspawn target hosts needs root"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None, reason="systemd-container is not installed"),
]

PLAYBOOKS = Path(__file__).parent / "playbooks"
USER = "qsstats"


def ansible_playbook(inventory, playbook, *extra):
    result = subprocess.run(
        [Path(sys.executable).parent / "ansible-playbook", "-i", inventory, PLAYBOOKS / playbook, *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("rootless")
    inventory = base / "hosts.yml"
    target = TargetHost("qs-ct-rootless")
    try:
        target.up(inventory=inventory)
        ansible_playbook(inventory, "rootless_quadlets.yml")
        ansible_playbook(inventory, "rootless_stats.yml", "-e", f"qs_result_file={base / 'stats.json'}")
        uid = target.ssh(f"id -u {USER}").stdout.strip()
        yield {"data": json.loads((base / "stats.json").read_text()), "uid": uid}
    finally:
        target.destroy()


def by_name(data, name):
    return next(c for c in data["all"]["containers"] if c["name"] == name)


def test_engine_is_the_users_rootless_podman(results):
    engine = results["data"]["all"]["engine"]
    assert engine["kind"] == "podman"
    assert engine["rootless"] is True
    assert engine["found_by"] == "user podman socket"
    assert engine["endpoint"].endswith(f"/run/user/{results['uid']}/podman/podman.sock")


def test_both_quadlet_containers_are_found_with_their_units(results):
    names = {c["name"] for c in results["data"]["all"]["containers"]}
    assert {"qs-busy", "qs-idle"} <= names
    for name in ("qs-busy", "qs-idle"):
        container = by_name(results["data"], name)
        assert container["labels"]["unit"] == f"{name}.service"
        assert container["state"] == "running"


def test_cgroup_fast_path_in_the_split_quadlet_layout(results):
    uid = results["uid"]
    for name in ("qs-busy", "qs-idle"):
        container = by_name(results["data"], name)
        assert container["source"] == "cgroup-v2"
        path = container["cgroup_path"]
        assert f"user@{uid}.service/app.slice/{name}.service/libpod-payload-{container['id']}" in path, path


def test_cpu_busy_versus_idle(results):
    busy = by_name(results["data"], "qs-busy")
    idle = by_name(results["data"], "qs-idle")
    assert busy["counters"]["cpu_usage_ns"] > 0
    # One busy loop on a 2-core machine shared with other jobs: well above idle, at most about one core.
    assert 30 <= busy["rates"]["cpu_percent"] <= 110, busy["rates"]
    assert idle["rates"]["cpu_percent"] < 5, idle["rates"]


def test_statistics_the_target_cannot_provide_are_absent_not_invented(results):
    # nspawn hands the target a unified hierarchy with no controllers: no memory or pids files.
    busy = by_name(results["data"], "qs-busy")
    assert "memory_usage_bytes" not in busy["gauges"]
    assert "memory_working_set_bytes" not in busy["gauges"]
    assert "pids_current" not in busy["gauges"]


def test_unknown_container_is_named(results):
    unknown = results["data"]["unknown"]
    assert unknown["failed"] is True
    assert "qs-no-such-container" in unknown["msg"]


def test_root_without_an_engine_is_told_which_sockets_were_tried(results):
    as_root = results["data"]["as_root"]
    assert as_root["failed"] is True
    assert "sockets tried" in as_root["msg"]
    assert "/run/podman/podman.sock" in as_root["msg"]
