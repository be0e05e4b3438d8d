"""The module, the lookup and the gate playbook through real ansible-playbook runs on localhost."""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest
from podman_env import REPO, Podman, podman_available, wait_for

from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine, sampler

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not podman_available(), reason="needs rootful podman and runc on this machine"),
]

MIB = 1024 * 1024
VENV = REPO / ".venv"


@pytest.fixture(scope="module")
def podman():
    env = Podman()
    try:
        env.names = {
            "mem": env.run(
                "mem", f"head -c {32 * MIB} /dev/zero > /dev/shm/hold && exec sleep 600", "--shm-size", "64m"
            ),
            "idle": env.run("idle", "exec sleep 600"),
        }
        yield env
    finally:
        env.cleanup()


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(VENV),
            "ANSIBLE_NOCOLOR": "1",
        }
    )
    env.pop("DOCKER_HOST", None)
    env.update(extra or {})
    return env


def playbook(tmp_path, text, *args, env=None):
    path = tmp_path / "play.yml"
    path.write_text(textwrap.dedent(text))
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={VENV / 'bin' / 'python'}",
            str(path),
            *args,
        ],
        env=ansible_env(env),
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )


def wait_held(podman):
    eng = engine.connect(sock=podman.socket)
    try:
        col = sampler.ContainerSampler(eng, metrics=["memory"])
        wait_for(
            lambda: col.collect([podman.names["mem"]])[0]["gauges"]["memory_working_set_bytes"] >= 32 * MIB,
            what="32 MiB held",
        )
    finally:
        eng.close()


def test_module_in_a_playbook_with_check_mode_and_bad_input(podman, tmp_path):
    wait_held(podman)
    mem, idle = podman.names["mem"], podman.names["idle"]
    proc = playbook(
        tmp_path,
        f"""\
        - hosts: localhost
          gather_facts: false
          vars:
            mem: "{{{{ stats.containers | selectattr('name', 'equalto', '{mem}') | first }}}}"
            idle: "{{{{ stats.containers | selectattr('name', 'equalto', '{idle}') | first }}}}"
          tasks:
            - quadstats.stack.container_stats:
                socket: {podman.socket}
                containers: [{podman.names["mem"]}, {podman.names["idle"]}]
                sample_seconds: 1
              register: stats
            - ansible.builtin.assert:
                that:
                  - stats is not changed
                  - stats.engine.kind == 'podman'
                  - stats.containers | length == 2
                  - mem.gauges.memory_working_set_bytes >= {32 * MIB}
                  - idle.rates.cpu_percent < 5
                  - stats.containers | map(attribute='source') | unique == ['cgroup-v1']
                  - stats.gone == []
                  - stats.engine.origin == 'socket'
                  - ansible_facts.quadstats_containers.containers | length == 2
                  - ansible_facts.quadstats_containers.engine == stats.engine
                  - mem.timestamp is float
            - quadstats.stack.container_stats:
                socket: {podman.socket}
                containers: [{podman.names["idle"]}]
                metrics: [cpu]
              check_mode: true
              register: checked
            - ansible.builtin.assert:
                that:
                  - checked is not changed
                  - checked.containers[0].counters.cpu_usage_ns > 0
                  - checked.containers[0].gauges == {{}}
            - quadstats.stack.container_stats:
                socket: {podman.socket}
                containers: [qsct-does-not-exist]
              register: unknown
              ignore_errors: true
            - quadstats.stack.container_stats:
                socket: {tmp_path}/no-engine.sock
              register: nothing
              ignore_errors: true
            - quadstats.stack.container_stats:
                socket: {podman.socket}
                timeout: 0
              register: zero_timeout
              ignore_errors: true
            - quadstats.stack.container_stats:
                socket: {tmp_path}
              register: directory
              ignore_errors: true
            - ansible.builtin.assert:
                that:
                  - unknown is failed
                  - "'qsct-does-not-exist' in unknown.msg"
                  - unknown.unknown == ['qsct-does-not-exist']
                  - unknown.error_kind == 'not_found'
                  - nothing is failed
                  - nothing.error_kind == 'unreachable'
                  - "'{tmp_path}/no-engine.sock (not found)' in nothing.msg"
                  - "'socket' in nothing.msg"
                  - zero_timeout is failed
                  - zero_timeout.error_kind == 'invalid_option'
                  - "zero_timeout.msg.startswith('timeout: must be a number of seconds greater than 0')"
                  - directory is failed
                  - directory.error_kind == 'invalid_option'
                  - "'is a directory, not a socket' in directory.msg"
        """,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_lookup_finds_the_engine_through_docker_host(podman, tmp_path):
    wait_held(podman)
    lookup = "query('quadstats.stack.container_stats'"
    labels = "{'io.quadstats.test': '" + podman.run_id + "'}"
    names = sorted(podman.names.values())
    proc = playbook(
        tmp_path,
        f"""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - ansible.builtin.set_fact:
                found: "{{{{ {lookup}, '{podman.names["mem"]}', metrics=['memory', 'state']) }}}}"
                every: "{{{{ {lookup}, labels={labels}) | map(attribute='name') | sort }}}}"
                both: "{{{{ {lookup}, {names}, metrics=['pids']) | map(attribute='name') | sort }}}}"
            - ansible.builtin.assert:
                that:
                  - found | length == 1
                  - found[0].gauges.memory_working_set_bytes >= {32 * MIB}
                  # podman 4.3's list carries no restart count: unknown, not a request per container
                  - found[0].gauges.restart_count is none
                  - found[0].started_at is number
                  - every == {sorted(podman.names.values())}
                  - both == every
        """,
        env={"DOCKER_HOST": "unix://" + podman.socket},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_gate_playbook_passes_within_budget_and_stops_over_it(podman):
    wait_held(podman)
    base = [
        "ansible-playbook",
        str(REPO / "playbooks" / "container_gate.yml"),
        "-e",
        f"container_gate_name={podman.names['mem']}",
        "-e",
        f"container_gate_socket={podman.socket}",
    ]
    ok = subprocess.run(base, env=ansible_env(), capture_output=True, text=True, check=False, timeout=120)
    assert ok.returncode == 0, ok.stdout[-3000:]
    assert "within budget; deploying" in ok.stdout
    over = subprocess.run(
        [*base, "-e", f"container_gate_max_working_set_bytes={16 * MIB}"],
        env=ansible_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert over.returncode != 0
    assert f"budget {16 * MIB} B" in over.stdout
    assert "Deploy step" not in over.stdout
