"""The real modules, lookup and example playbook through ansible-playbook against the simulator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.onefs_simulator import OneFSSimulator
from harness.onefs_simulator.server import DEFAULT_CANARY

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def ansible_env(tmp_path, **extra):
    """The environment of an ansible command on this tree; ONEFS_* only when given."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".venv"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
    )
    for name in ("ONEFS_HOST", "ONEFS_USERNAME", "ONEFS_PASSWORD"):
        env.pop(name, None)
    env.update(extra)
    return env


def run(command, *args, env):
    """An ansible command (``ansible``, ``ansible-playbook``…) on localhost with the venv's Python."""
    local = ("-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}")
    return subprocess.run(
        [str(BIN / command), *local, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def run_playbook(tmp_path, playbook, extra_vars, *args):
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    return run("ansible-playbook", str(playbook), "-e", f"@{vars_file}", *args, env=ansible_env(tmp_path))


CONN = """
        host: 127.0.0.1
        port: "{{ sim_port }}"
        username: statsreader
        password: "{{ sim_password }}"
        ca_path: "{{ sim_ca }}"
"""

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    onefs_host: 127.0.0.1
    onefs_port: "{{ sim_port }}"
    onefs_username: statsreader
    onefs_password: "{{ sim_password }}"
    onefs_ca_path: "{{ sim_ca }}"
  tasks:
    - quadstats.stack.onefs_stats:
        keys: [cluster.cpu.user.avg, node.load.1min, cluster.protostats.nfs]
        groups: [cluster_health_stats]
        formats: [prometheus, influx]
CONN
      register: stats_r
    - quadstats.stack.onefs_stats:
        keys: [node.load.1min]
        nodes: [1, 3]
CONN
      check_mode: true
      register: check_r
    # The aliases of host, and the facts later tasks read without register.
    - quadstats.stack.onefs_stats:
        hostname: 127.0.0.1
        port: "{{ sim_port }}"
        username: statsreader
        password: "{{ sim_password }}"
        ca_path: "{{ sim_ca }}"
        groups: [cluster_health_stats]
    - quadstats.stack.onefs_info:
        onefs_host: 127.0.0.1
        port: "{{ sim_port }}"
        username: statsreader
        password: "{{ sim_password }}"
        ca_path: "{{ sim_ca }}"
    - ansible.builtin.set_fact:
        facts_seen: "{{ {'onefs': ansible_facts.quadstats_onefs, 'info': ansible_facts.quadstats_onefs_info} }}"
    - quadstats.stack.onefs_stats:
        keys: [node.load.1min, node.load.1mn]
CONN
      register: unknown_r
      ignore_errors: true
    - quadstats.stack.onefs_stats:
        keys: [node.load.1min, node.load.1mn]
        strict_keys: false
CONN
      register: loose_r
    - quadstats.stack.onefs_stats:
        host: 127.0.0.1
        port: "{{ sim_port }}"
        username: statsreader
        password: "{{ sim_password }}-wrong"
        ca_path: "{{ sim_ca }}"
        keys: [node.load.1min]
      register: badpw_r
      ignore_errors: true
    - quadstats.stack.onefs_stats:
        host: 127.0.0.1
        port: "{{ sim403_port }}"
        username: statsreader
        password: "{{ sim_password }}"
        ca_path: "{{ sim403_ca }}"
        keys: [node.load.1min]
      register: forbidden_r
      ignore_errors: true
    - quadstats.stack.onefs_stats:
        host: 127.0.0.1
        port: "{{ sim_port }}"
        username: statsreader
        password: "{{ sim_password }}"
        keys: [node.load.1min]
      register: tls_r
      ignore_errors: true
    - quadstats.stack.onefs_stats:
        host: 127.0.0.1
        port: "{{ sim_port }}"
        username: statsreader
        password: "{{ sim_password }}"
        validate_certs: false
        auth: basic
        keys: [node.load.1min]
      register: insecure_r
    - quadstats.stack.onefs_info:
        host: 127.0.0.1
        port: "{{ closed_port }}"
        username: statsreader
        password: "{{ sim_password }}"
        retries: 0
      register: unreach_r
      ignore_errors: true
    - quadstats.stack.onefs_info:
        keys: [ifs.bytes.free, cluster.protostats.nfs]
CONN
      register: info_r
    - quadstats.stack.onefs_info:
        keys: [ifs.bytes.fre]
CONN
      register: info_bad_r
      ignore_errors: true
    - ansible.builtin.set_fact:
        lookup_vars: "{{ query('quadstats.stack.onefs_stat', 'cluster.cpu.user.avg', 'node.load.1min') }}"
        lookup_kwargs: "{{ lookup('quadstats.stack.onefs_stat', 'ifs.bytes.free', host='127.0.0.1',
                           port=sim_port, username='statsreader', password=sim_password, ca_path=sim_ca) }}"
    - ansible.builtin.set_fact:
        lookup_alias: "{{ lookup('quadstats.stack.onefs_stat', 'ifs.bytes.free', hostname='127.0.0.1') }}"
      vars:  # the keyword alias must win over a variable naming a host that does not resolve
        onefs_host: nowhere.invalid
        onefs_retries: 0
    - block:
        - ansible.builtin.set_fact:
            never: "{{ lookup('quadstats.stack.onefs_stat', 'node.load.1mn') }}"
      rescue:
        - ansible.builtin.set_fact:
            lookup_error: "{{ ansible_failed_result.msg }}"
    # Faults injected through the simulator's control endpoint, between module runs.
    - ansible.builtin.uri:
        url: "https://127.0.0.1:{{ sim_port }}/_sim/faults"
        method: POST
        ca_path: "{{ sim_ca }}"
        body_format: json
        body: {status_503: 2, row_errors: [[node.load.1min, null, 6], [cluster.cpu.user.avg, 0, 3]]}
    - quadstats.stack.onefs_stats:
        keys: [node.load.1min, cluster.cpu.user.avg]
        include_degraded: true
CONN
      register: faulty_r
    - ansible.builtin.uri:
        url: "https://127.0.0.1:{{ sim_port }}/_sim/faults"
        method: POST
        ca_path: "{{ sim_ca }}"
        body_format: json
        body: {row_errors: [], malformed_json: 1}
    - quadstats.stack.onefs_info:
        auth: basic
CONN
      register: malformed_r
      ignore_errors: true
    - ansible.builtin.uri:
        url: "https://127.0.0.1:{{ sim_port }}/_sim/faults"
        method: POST
        ca_path: "{{ sim_ca }}"
        body_format: json
        body: {max_uri: 1500, current_rejects: [node.load.5min]}
    - quadstats.stack.onefs_stats:
        groups: [cluster_cpu_stats, node_load_stats, cluster_proto_stats, heat_total_stats, node_disk_stats]
        strict_keys: false
CONN
      register: small_uri_r
    - ansible.builtin.uri:
        url: "https://127.0.0.1:{{ sim_port }}/_sim/faults"
        method: POST
        ca_path: "{{ sim_ca }}"
        body_format: json
        body: {max_uri: 8192, current_rejects: [], slow_seconds: 1.0, slow_count: 1}
    - quadstats.stack.onefs_info:
        timeout: 0.3
        retries: 0
        auth: basic
CONN
      register: slow_r
      ignore_errors: true
    - ansible.builtin.copy:
        dest: "{{ out_file }}"
        mode: "0600"
        content: "{{ {'stats': stats_r, 'check': check_r, 'unknown': unknown_r, 'loose': loose_r,
                      'badpw': badpw_r, 'forbidden': forbidden_r, 'tls': tls_r, 'insecure': insecure_r,
                      'unreach': unreach_r, 'info': info_r, 'info_bad': info_bad_r,
                      'lookup_vars': lookup_vars, 'lookup_kwargs': lookup_kwargs, 'lookup_alias': lookup_alias,
                      'lookup_error': lookup_error, 'faulty': faulty_r, 'malformed': malformed_r,
                      'small_uri': small_uri_r, 'slow': slow_r, 'facts': facts_seen} | to_json }}"
""".replace("CONN\n", CONN.lstrip("\n"))


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One -vvv playbook run covering modules, lookup and failures; shared by the tests below."""
    tmp_path = tmp_path_factory.mktemp("onefs-ansible")
    start = 1_700_000_003.0
    sim = OneFSSimulator(seed=5, nodes=4, start_time=start, password=DEFAULT_CANARY).start()
    sim403 = OneFSSimulator(seed=5, start_time=start, password=DEFAULT_CANARY, privileges=("ISI_PRIV_LOGIN_PAPI",))
    sim403.start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    try:
        playbook = tmp_path / "play.yml"
        playbook.write_text(PLAYBOOK)
        out_file = tmp_path / "out.json"
        extra = {
            "sim_port": sim.port,
            "sim_ca": sim.ca_path,
            "sim_password": DEFAULT_CANARY,
            "sim403_port": sim403.port,
            "sim403_ca": sim403.ca_path,
            "closed_port": closed_port,
            "out_file": str(out_file),
        }
        proc = run_playbook(tmp_path, playbook, extra, "-vvv")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        text = out_file.read_text()
        yield {"sim": sim, "out": json.loads(text), "raw": text, "proc": proc, "closed_port": closed_port}
    finally:
        sim.stop()
        sim403.stop()


def test_stats_values_are_the_simulated_values(ran):
    sim, res = ran["sim"], ran["out"]["stats"]
    now = sim.clock.now()
    assert res["changed"] is False
    assert res["cluster"]["name"] == "SimCluster"
    by = {(s["name"], s["labels"].get("node")): s["value"] for s in res["stats"] if s["field"] is None}
    assert by[("cluster.cpu.user.avg", None)] == sim.model.value("cluster.cpu.user.avg", 0, now)
    for node in sim.model.nodes:
        assert by[("node.load.1min", str(node.lnn))] == sim.model.value("node.load.1min", node.devid, now)
    assert by[("cluster.node.count.all", None)] == 4
    cpu = sim.model.value("cluster.cpu.user.avg", 0, now)
    assert f'isilon_stat_cluster_cpu_user_avg{{cluster="simcluster"}} {cpu}' in res["prometheus"]
    assert "isilon_stat_cluster_protostats_nfs_op_rate{" in res["prometheus"]
    stamp = int(sim.model.bucket("cluster.cpu.user.avg", now)[1])
    assert f"cluster.cpu.user.avg,cluster=simcluster value={float(cpu)!r} {stamp}000000000\n" in res["influx"]
    assert res["influx"].endswith("\n")
    assert res["prometheus"].endswith("\n")
    assert res["ansible_facts"]["quadstats_onefs"] == {
        "SimCluster": {name: res[name] for name in ("cluster", "stats", "errors", "unknown_keys")}
    }


def test_aliases_of_host_and_facts_seen_by_later_tasks(ran):
    sim, facts = ran["sim"], ran["out"]["facts"]
    (entry,) = facts["onefs"].values()
    assert list(facts["onefs"]) == ["SimCluster"]
    assert {s["name"] for s in entry["stats"]} == {
        "cluster.health",
        "cluster.node.count.all",
        "cluster.node.count.down",
    }
    assert entry["cluster"]["nodes_down"] == []
    info = facts["info"]["SimCluster"]
    assert [n["devid"] for n in info["cluster"]["nodes"]] == [n.devid for n in sim.model.nodes]
    assert info["metadata"] == {}


def test_check_mode_runs_and_filters_nodes(ran):
    res = ran["out"]["check"]
    assert res["changed"] is False
    assert sorted(s["labels"]["node"] for s in res["stats"]) == ["1", "3"]


def test_unknown_key_fails_with_close_match_or_warns(ran):
    strict, loose = ran["out"]["unknown"], ran["out"]["loose"]
    assert strict["failed"] is True
    assert "node.load.1mn" in strict["msg"]
    assert "did you mean: node.load.1min" in strict["msg"]
    assert loose.get("failed") is not True
    assert loose["unknown_keys"] == ["node.load.1mn"]
    assert any("node.load.1mn" in w for w in loose["warnings"])
    assert {s["name"] for s in loose["stats"]} == {"node.load.1min"}


def test_actionable_failures(ran):
    out = ran["out"]
    assert out["badpw"]["failed"] is True
    assert "ISI_PRIV_LOGIN_PAPI" in out["badpw"]["msg"]
    assert out["badpw"]["error_kind"] == "authentication"
    assert "ISI_PRIV_STATISTICS" in out["forbidden"]["msg"]
    assert out["forbidden"]["status"] == 403
    assert out["forbidden"]["error_kind"] == "permission"
    assert "?" not in out["forbidden"]["msg"]
    assert out["tls"]["error_kind"] == "tls"
    assert out["unreach"]["error_kind"] == "unreachable"
    assert "validate_certs" in out["tls"]["msg"]
    assert "ca_path" in out["tls"]["msg"]
    assert f"127.0.0.1:{ran['closed_port']}" in out["unreach"]["msg"]
    assert out["insecure"]["stats"]


def test_faults_through_the_modules(ran):
    sim, out = ran["sim"], ran["out"]
    faulty = out["faulty"]
    # two 503s were retried; the transient code 6 rows give no sample, the degraded row is kept
    assert sim.statuses().count(503) == 2
    assert not [s for s in faulty["stats"] if s["name"] == "node.load.1min"]
    assert {(e["key"], e["code"], e["kind"]) for e in faulty["errors"]} == {
        ("node.load.1min", 6, "transient"),
        ("cluster.cpu.user.avg", 3, "degraded"),
    }
    assert len([e for e in faulty["errors"] if e["code"] == 6]) == 4
    (cpu,) = faulty["stats"]
    assert cpu["degraded"] is True
    assert "malformed JSON" in out["malformed"]["msg"]
    assert out["malformed"]["error_kind"] == "malformed_response"
    small = out["small_uri"]
    assert 414 in sim.statuses()
    assert small["unknown_keys"] == ["node.load.5min"]
    wanted = 4 + 7 + 28 + 12 + 11 - 1
    assert len({s["name"] for s in small["stats"]}) == wanted
    assert "raise the timeout option" in out["slow"]["msg"]
    assert out["slow"]["error_kind"] == "timeout"


def test_info_identity_nodes_and_metadata(ran):
    info = ran["out"]["info"]
    nodes = info["cluster"]["nodes"]
    assert [n["lnn"] for n in nodes] == [1, 2, 3, 4]
    assert all(n["devid"] != n["lnn"] for n in nodes)
    assert info["cluster"]["nodes_down"] == []
    assert info["cluster"]["version"] == "v9.5.0.0"
    assert info["metadata"]["ifs.bytes.free"]["interval"] == 300
    assert info["metadata"]["ifs.bytes.free"]["units"] == "bytes"
    assert info["metadata"]["cluster.protostats.nfs"]["interval"] == 5
    assert "ifs.bytes.free" in ran["out"]["info_bad"]["msg"]


def test_lookup_values(ran):
    sim, out = ran["sim"], ran["out"]
    now = sim.clock.now()
    cpu, load = out["lookup_vars"]
    assert cpu == sim.model.value("cluster.cpu.user.avg", 0, now)
    assert load == {str(n.lnn): sim.model.value("node.load.1min", n.devid, now) for n in sim.model.nodes}
    assert out["lookup_kwargs"] == sim.model.value("ifs.bytes.free", 0, now)
    assert out["lookup_alias"] == out["lookup_kwargs"]
    assert "node.load.1mn" in out["lookup_error"]
    assert "node.load.1min" in out["lookup_error"]


def test_canary_password_appears_nowhere(ran):
    proc = ran["proc"]
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in proc.stdout or "********" in proc.stdout
    for text in (proc.stdout, proc.stderr, ran["raw"]):
        assert DEFAULT_CANARY not in text


PRECHECK = ROOT / "playbooks" / "onefs_precheck.yml"


def precheck(tmp_path, sim, **extra):
    values = {
        "onefs_host": "127.0.0.1",
        "onefs_port": sim.port,
        "onefs_username": "statsreader",
        "onefs_password": DEFAULT_CANARY,
        "onefs_ca_path": sim.ca_path,
    }
    values.update(extra)
    return run_playbook(tmp_path, PRECHECK, values)


def test_precheck_passes_on_a_healthy_cluster(tmp_path, sim_factory):
    sim = sim_factory()
    sim.faults.value_overrides = {("cluster.cpu.idle.avg", 0): 700, ("ifs.percent.avail", 0): 35.5}
    proc = precheck(tmp_path, sim)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "Cluster CPU 30.0 %" in proc.stdout
    assert "/ifs available: 35.5 %" in proc.stdout


def test_precheck_fails_on_down_node_high_cpu_and_low_space(tmp_path, sim_factory):
    down = sim_factory(down=(3,))
    proc = precheck(tmp_path, down)
    assert proc.returncode != 0
    assert "node(s) down (LNN 3)" in proc.stdout
    busy = sim_factory()
    busy.faults.value_overrides = {("cluster.cpu.idle.avg", 0): 50, ("ifs.percent.avail", 0): 35.5}
    proc = precheck(tmp_path, busy)
    assert proc.returncode != 0
    assert "Cluster CPU is 95.0 %, above the 80 % threshold" in proc.stdout
    full = sim_factory()
    full.faults.value_overrides = {("cluster.cpu.idle.avg", 0): 700, ("ifs.percent.avail", 0): 4.0}
    proc = precheck(tmp_path, full, onefs_precheck_min_free_percent=5)
    assert proc.returncode != 0
    assert "Only 4.0 % of /ifs is available, below the 5 % threshold" in proc.stdout


def test_ad_hoc_with_the_password_from_the_environment_fills_a_fact_cache(tmp_path, sim_factory):
    """docs/onefs.md's ad-hoc recipe: credentials in ONEFS_*, host alias on -a, facts cached for later plays."""
    sim = sim_factory()
    cache = tmp_path / "facts"
    env = ansible_env(
        tmp_path,
        ONEFS_USERNAME="statsreader",
        ONEFS_PASSWORD=DEFAULT_CANARY,
        ANSIBLE_CACHE_PLUGIN="jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(cache),
        ANSIBLE_GATHERING="explicit",
    )
    args = f"hostname=127.0.0.1 port={sim.port} ca_path={sim.ca_path} keys=ifs.bytes.free,node.load.1min"
    proc = run("ansible", "localhost", "-m", "quadstats.stack.onefs_stats", "-a", args, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "SUCCESS" in proc.stdout
    assert DEFAULT_CANARY not in proc.stdout + proc.stderr
    # a later play reads the cached fact without running the module or register
    play = tmp_path / "later.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n"
        '        msg: "nodes up {{ ansible_facts.quadstats_onefs.SimCluster.cluster.nodes_up }}, free {{\n'
        "          ansible_facts.quadstats_onefs.SimCluster.stats | selectattr('name', 'eq', 'ifs.bytes.free')\n"
        "          | map(attribute='value') | first }}\"\n"
    )
    later = run("ansible-playbook", str(play), env=env)
    assert later.returncode == 0, later.stdout[-3000:]
    free = sim.model.value("ifs.bytes.free", 0, sim.clock.now())
    assert f"nodes up [1, 2, 3, 4], free {free}" in later.stdout
    # without the environment the module names what is missing; nothing was echoed that is secret
    env.pop("ONEFS_PASSWORD")
    missing = run("ansible", "localhost", "-m", "quadstats.stack.onefs_stats", "-a", args, env=env)
    assert missing.returncode != 0
    assert "password" in missing.stdout


def test_ad_hoc_with_the_password_from_a_vaulted_vars_file(tmp_path, sim_factory):
    """docs/onefs.md's second recipe: -e @vault-file and password={{ onefs_password }} on -a."""
    sim = sim_factory()
    env = ansible_env(tmp_path)
    (tmp_path / "vault-pass").write_text("not-the-onefs-password\n")
    vars_file = tmp_path / "onefs-vault.yml"
    vars_file.write_text(f"onefs_password: {DEFAULT_CANARY}\n")
    vault = ["--vault-password-file", str(tmp_path / "vault-pass")]
    subprocess.run([str(BIN / "ansible-vault"), "encrypt", *vault, str(vars_file)], env=env, check=True, timeout=60)
    assert DEFAULT_CANARY not in vars_file.read_text()
    args = f"onefs_host=127.0.0.1 port={sim.port} ca_path={sim.ca_path} username=statsreader"
    module = ("-m", "quadstats.stack.onefs_info", "-a", args + " password={{ onefs_password }}")
    proc = run("ansible", "localhost", *vault, "-e", f"@{vars_file}", *module, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "SUCCESS" in proc.stdout
    assert "quadstats_onefs_info:" in proc.stdout
    assert DEFAULT_CANARY not in proc.stdout + proc.stderr
