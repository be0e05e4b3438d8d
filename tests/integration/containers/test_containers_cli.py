"""Rootful podman on this machine with no API socket at all: the engine is the ``podman`` command.

What a stock podman host offers (podman is daemonless; podman.socket is usually off): the core finds
containers with ``podman ps``/``podman inspect`` and reads their cgroups; the module run ad hoc says
so (``engine.origin: cli``) and fills a fact cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
from podman_env import REPO, Podman, podman_available, wait_for

from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine as engine_mod
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (
    StatsUnavailable,
    UnknownContainer,
)
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import ContainerSampler

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not podman_available(), reason="needs rootful podman and runc on this machine"),
    pytest.mark.skipif(
        os.path.exists(engine_mod.SYSTEM_PODMAN_SOCKET) or os.path.exists(engine_mod.DOCKER_SOCKET),
        reason="an engine API socket exists on this machine; the test needs a host without one",
    ),
]

VENV = REPO / ".venv"
MODULE = "quadstats.stack.container_stats"


def cached_facts(path):
    """A host's facts from Ansible's jsonfile cache (ansible-core 2.19 wraps them in ``__payload__``)."""
    data = json.loads(path.read_text())
    return json.loads(data["__payload__"]) if "__payload__" in data else data


@pytest.fixture(scope="module")
def podman():
    env = Podman()
    try:
        env.names = {"idle": env.run("cli-idle", "exec sleep 600"), "busy": env.run("cli-busy", "exec yes > /dev/null")}
        yield env
    finally:
        env.cleanup()


@pytest.fixture
def no_socket_env(podman, tmp_path, monkeypatch):
    """The process environment of a host without any engine socket (the user's runtime dir is empty)."""
    monkeypatch.setenv("CONTAINERS_CONF", podman.env["CONTAINERS_CONF"])
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return tmp_path


def test_the_podman_command_is_the_engine_when_no_socket_answers(podman, no_socket_env):
    eng = engine_mod.connect()
    described = eng.describe()
    assert type(eng).__name__ == "PodmanCliEngine"
    assert (described["origin"], described["found_by"], described["kind"]) == ("cli", "podman command", "podman")
    assert described["rootless"] is False
    assert described["version"] == podman.podman("--version").stdout.split()[-1]
    sampler = ContainerSampler(eng)
    ids = {name: podman.inspect(name)["Id"] for name in podman.names.values()}
    by_name = {s["name"]: s for s in sampler.collect(list(podman.names.values()), sample_seconds=1)}
    for name, ident in ids.items():
        entry = by_name[name]
        assert entry["id"] == ident
        assert entry["source"] == "cgroup-v1"
        assert entry["state"] == "running"
        assert entry["pid"] == podman.inspect(name)["State"]["Pid"]
        assert isinstance(entry["started_at"], int)
    # A busy loop on a 2-core machine that other jobs (and a second pytest worker) share: it may get little of a
    # core, but clearly more than the idle container, which gets none.
    busy = by_name[podman.names["busy"]]["rates"]["cpu_percent"]
    idle = by_name[podman.names["idle"]]["rates"]["cpu_percent"]
    assert busy > 2, busy
    assert idle < 1, idle
    with pytest.raises(UnknownContainer, match="qsct-no-such-container") as info:
        sampler.collect(["qsct-no-such-container"])
    assert info.value.kind == "not_found"


def test_the_api_source_is_reported_unavailable_not_invented(podman, no_socket_env):
    eng = engine_mod.connect()
    [entry] = ContainerSampler(eng, source="api", metrics=["memory"]).collect([podman.names["idle"]])
    assert entry["error"]["kind"] == "unavailable"
    assert "'socket' option" in entry["error"]["message"]
    assert entry["gauges"] == {}
    with pytest.raises(StatsUnavailable):
        eng.libpod_stats()


def test_events_through_the_podman_command(podman, no_socket_env):
    eng = engine_mod.connect()
    expected = podman.prefix + "cli-ev"
    seen = []

    def follow():
        # Ends at the container's start event, or after 20 idle seconds (then the assertion says what came).
        for event in eng.events(since=int(time.time()) - 1, timeout=20):
            seen.append((event["action"], event["name"]))
            if seen[-1] == ("start", expected):
                return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(1)  # let the command subscribe before the event
    assert podman.run("cli-ev", "exec sleep 600") == expected
    thread.join(timeout=60)
    assert ("start", expected) in seen, seen


def test_module_ad_hoc_without_a_socket_fills_the_fact_cache(podman, no_socket_env, tmp_path):
    facts = tmp_path / "facts"
    env = dict(
        os.environ,
        PATH=f"{VENV / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(VENV),
        ANSIBLE_CACHE_PLUGIN="jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(facts),
    )
    args = json.dumps({"labels": {"io.quadstats.test": podman.run_id}})
    interpreter = f"ansible_python_interpreter={VENV / 'bin' / 'python'}"
    command = [VENV / "bin" / "ansible", "localhost", "-i", "localhost,", "-c", "local", "-e", interpreter]
    proc = subprocess.run(
        [*command, "-m", MODULE, "-a", args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    cached = wait_for(lambda: list(facts.glob("*")), timeout=5, what="fact cache file")
    found = cached_facts(cached[0])["quadstats_containers"]
    assert found["engine"]["origin"] == "cli"
    assert set(podman.names.values()) <= {c["name"] for c in found["containers"]}
    assert {c["source"] for c in found["containers"]} == {"cgroup-v1"}
