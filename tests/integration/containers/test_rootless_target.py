"""container_stats for a rootless user's quadlets on a real Debian 13 target (systemd-nspawn, over SSH).

Inside the target the container cgroups have no controllers (see docs/testing.md): CPU time from
cpu.stat is there, memory/pids/io statistics are not. The test asserts both facts openly.

Then, as a new user meets it: ``podman.socket`` stopped (podman is daemonless), the module run ad hoc
(``ansible <target> -m quadstats.stack.container_stats`` as the rootless user) finds the containers
through the ``podman`` command, reads their cgroups, and fills a fact cache.
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
MODULE = "quadstats.stack.container_stats"


def cached_facts(path):
    """A host's facts from Ansible's jsonfile cache (ansible-core 2.19 wraps them in ``__payload__``)."""
    data = json.loads(path.read_text())
    return json.loads(data["__payload__"]) if "__payload__" in data else data


def ansible_ad_hoc(inventory, facts_dir, *args):
    """``ansible all -m quadstats.stack.container_stats ...`` with a jsonfile fact cache in ``facts_dir``."""
    env = dict(os.environ, ANSIBLE_CACHE_PLUGIN="jsonfile", ANSIBLE_CACHE_PLUGIN_CONNECTION=str(facts_dir))
    return subprocess.run(
        [Path(sys.executable).parent / "ansible", "all", "-i", inventory, "-m", MODULE, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


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
        data = {"data": json.loads((base / "stats.json").read_text()), "uid": uid}
        # A stock podman host: no API socket. Stop it as the user, then run the module ad hoc.
        target.ssh(target.user_env(USER) + " systemctl --user stop podman.socket podman.service")
        socket_state = target.ssh(target.user_env(USER) + " systemctl --user is-active podman.socket", check=False)
        data["socket_state"] = socket_state.stdout.strip()
        facts_dir = base / "facts"
        ad_hoc = ansible_ad_hoc(inventory, facts_dir, "-b", "--become-user", USER, "-a", "sample_seconds=1")
        data["ad_hoc"] = {"rc": ad_hoc.returncode, "out": ad_hoc.stdout[-6000:], "err": ad_hoc.stderr[-3000:]}
        cached = list(facts_dir.glob("*")) if facts_dir.exists() else []
        data["cached_facts"] = cached_facts(cached[0]) if len(cached) == 1 else None
        yield data
    finally:
        target.destroy()


def by_name(data, name):
    return next(c for c in data["all"]["containers"] if c["name"] == name)


def test_engine_is_the_users_rootless_podman(results):
    engine = results["data"]["all"]["engine"]
    assert engine["kind"] == "podman"
    assert engine["rootless"] is True
    assert engine["found_by"] == "user podman socket"
    assert engine["origin"] == "socket"
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
    assert 10 <= busy["rates"]["cpu_percent"] <= 110, busy["rates"]
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
    assert unknown["error_kind"] == "not_found"
    assert "qs-no-such-container" in unknown["msg"]


def test_root_without_a_socket_gets_its_own_containers_through_the_podman_command(results):
    as_root = results["data"]["as_root"]
    assert as_root["failed"] is False
    assert as_root["engine"]["origin"] == "cli"
    assert as_root["engine"]["rootless"] is False
    assert as_root["containers"] == []  # root runs none; the user's are not root's


def test_docker_without_its_socket_names_the_socket_option(results):
    docker = results["data"]["docker"]
    assert docker["failed"] is True
    assert docker["error_kind"] == "unreachable"
    assert "/var/run/docker.sock (not found)" in docker["msg"]
    assert "podman command" not in docker["msg"]  # Docker keeps its socket
    assert "'socket' option" in docker["msg"]
    assert "systemctl enable --now docker.socket" in docker["msg"]  # the target runs systemd


def test_ad_hoc_without_an_api_socket_finds_the_containers_through_the_podman_command(results):
    assert results["socket_state"] != "active"
    ad_hoc = results["ad_hoc"]
    assert ad_hoc["rc"] == 0, ad_hoc
    facts = results["cached_facts"]
    assert facts is not None, ad_hoc  # the result went into the fact cache
    found = facts["quadstats_containers"]
    assert found["engine"]["origin"] == "cli"
    assert found["engine"]["found_by"] == "podman command"
    assert found["engine"]["rootless"] is True
    assert found["engine"]["version"] == "5.4.2"
    by = {c["name"]: c for c in found["containers"]}
    assert {"qs-busy", "qs-idle"} <= set(by)
    uid = results["uid"]
    for name in ("qs-busy", "qs-idle"):
        assert by[name]["source"] == "cgroup-v2"
        assert f"user@{uid}.service/app.slice/{name}.service/libpod-payload-" in by[name]["cgroup_path"]
        assert by[name]["labels"]["unit"] == f"{name}.service"
        assert isinstance(by[name]["timestamp"], float)
    assert 10 <= by["qs-busy"]["rates"]["cpu_percent"] <= 110, by["qs-busy"]["rates"]  # shared machine: see above
    assert by["qs-idle"]["rates"]["cpu_percent"] < 5, by["qs-idle"]["rates"]
    assert by["qs-busy"]["gauges"]["restart_count"] == 0  # podman 5's list carries it
