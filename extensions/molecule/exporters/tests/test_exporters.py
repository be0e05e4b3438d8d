"""Verify playbooks/site.yml's exporters and stats collector, wired together, on one live Debian 13 host.

(molecule verify, testinfra over SSH.) What runs here: the collection's services image, built by the real
``podman build`` of services/Containerfile (on a debootstrapped trixie base, no registry) and loaded for the
service user; both roles' quadlets, configs and credentials for that one user; two OneFS simulators (alpha with
the run's canary password, beta with a second canary, each with its own test CA) and a backend heartbeat receiver
that accepts only the third canary as Bearer token, on the machine side of the host's veth; a quadlet container
``qs-sleeper`` (the services image running ``sleep``) that prepare.yml deployed through podman_host; the stats
collector, which site.yml pointed at both exporters, running the Alloy STAND-IN image (it is NOT Alloy and scrapes
nothing: the requests below are made from inside its network namespace by the host's python3, entered with
nsenter, to prove what Alloy in that container would reach).
Not proven here: Grafana Alloy itself scraping (it cannot run here), a real PowerScale cluster, the statistics'
values (the simulator's, see docs/onefs.md), and the containers' memory/pids/blkio figures (the target's cgroups
have no controllers, see docs/testing.md).

The tests run in file order: state after converge, scraping, HTTP SD and heartbeats, the collector reaching both
exporters, leak checks, reboot,
idempotence at -vvv, check mode, a password change, a token change, removal, check mode on the host without
the exporters.
"""

import json
import os
import re
import time

import pytest
import testinfra.utils.ansible_runner
from harness.molecule_checks import (
    INVENTORY,
    RootlessService,
    canary,
    canary_file,
    changed_tasks,
    ephemeral_dir,
    playbook,
    reboot,
    wait_for,
)

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

USER = "quadstats"
UNIT = "onefs-exporter.service"
CONTAINER = "onefs-exporter"
CREDENTIALS = f"/var/lib/quadstats/{USER}"
OUR_CREDENTIALS = f"ls {CREDENTIALS} | grep -e onefs-exporter -e container-exporter"
QUADLET = f"/home/{USER}/.config/containers/systemd/onefs-exporter.container"
CONFIG_DIR = f"/home/{USER}/.config/onefs-exporter"
CONFIG = f"{CONFIG_DIR}/onefs_exporter.yml"
SECRETS = "/run/credentials/onefs_exporter"
ALL_PORT, ALPHA_PORT, SD_PORT = 9100, 9101, 9999
SERVICE = RootlessService(USER, UNIT, CONTAINER)
CX_UNIT = "container-exporter.service"
CX = RootlessService(USER, CX_UNIT, "container-exporter")
CX_QUADLET = f"/home/{USER}/.config/containers/systemd/container-exporter.container"
CX_CONFIG_DIR = f"/home/{USER}/.config/container-exporter"
CX_CONFIG = f"{CX_CONFIG_DIR}/container-exporter.yml"
CX_PORT = 9886
CX_CREDENTIAL = "container-exporter-backend.token"
SLEEPER = "qs-sleeper"
COLLECTOR = RootlessService(USER, "stats-collector.service", "stats-collector")
COLLECTOR_QUADLET = f"/home/{USER}/.config/containers/systemd/stats-collector.container"
ALLOY_CONFIG = f"/home/{USER}/.config/stats-collector/config.alloy"
COLLECTOR_PORT = 12345
# site.yml: exactly the exporters' ports of the host's 127.0.0.1, forwarded into the collector's container.
FORWARDED = (ALL_PORT, ALPHA_PORT, CX_PORT, SD_PORT)
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def beta_password():
    return (ephemeral_dir() / "simulators" / "beta.password").read_text().strip()


def backend_token():
    return (ephemeral_dir() / "simulators" / "backend.token").read_text().strip()


def secrets():
    return (canary(), beta_password(), backend_token())


def heartbeats(since=0.0):
    """The requests the backend receiver recorded after ``since`` (epoch seconds)."""
    log = ephemeral_dir() / "simulators" / "heartbeats.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [r for r in map(json.loads, lines) if r["time"] >= since]


def sleeper_heartbeat(since=0.0):
    """An accepted heartbeat batch after ``since`` with the sleeper's ping and the /srv disk figure, else None."""
    for record in heartbeats(since):
        items = record["body"] or []
        names = {(i["type"], i["name"]) for i in items if i.get("host") == "qs-exporters"}
        if record["authorized"] and {("ping", f"container {SLEEPER}"), ("disk", "/srv")} <= names:
            return record
    return None


def fetch(host, port, path="/metrics"):
    """The page at 127.0.0.1:port on the host, '' when nothing answers."""
    code = f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}{path}', timeout=5).read().decode())"
    result = host.run(f'python3 -c "{code}"')
    return result.stdout if result.rc == 0 else ""


def container_pid(host, container):
    return SERVICE.run(host, f"podman inspect --format '{{{{.State.Pid}}}}' {container}").stdout.strip()


def fetch_inside(host, container, port, path="/metrics"):
    """The page at 127.0.0.1:port as seen from ``container``'s own network namespace, '' when nothing answers.

    The host's python3 makes the request after nsenter joined only the container's network namespace, so the
    result does not depend on what the image has (the collector's is the Alloy stand-in)."""
    code = f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}{path}', timeout=5).read().decode())"
    result = host.run(f'nsenter --target {container_pid(host, container)} --net python3 -c "{code}"')
    return result.stdout if result.rc == 0 else ""


def connect_inside(host, container, port):
    """'connected' or the errno name of a TCP connect to 127.0.0.1:port from ``container``'s network namespace."""
    connect = f"socket.socket().connect_ex(('127.0.0.1', {port}))"
    code = f"import errno, socket; print(errno.errorcode.get({connect}, 'connected'))"
    return host.run(f'nsenter --target {container_pid(host, container)} --net python3 -c "{code}"').stdout.strip()


def collector_scrapes_both(host):
    """What the collector's container gets from both exporters, once they answer there with data, else None."""
    cx_text = fetch_inside(host, COLLECTOR.container, CX_PORT)
    sd_text = fetch_inside(host, COLLECTOR.container, SD_PORT, "/sd")
    if f'name="{SLEEPER}"' not in cx_text or not sd_text:
        return None
    targets = sorted(t for group in json.loads(sd_text) for t in group["targets"])
    pages = {t: fetch_inside(host, COLLECTOR.container, int(t.rsplit(":", 1)[1])) for t in targets}
    if not all(stats_of(page, "alpha") for page in pages.values()):
        return None
    return cx_text, targets, pages


def samples(text):
    """(name, labels, value) of every sample line."""
    out = []
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            out.append((match[1], dict(LABEL.findall(match[2] or "")), float(match[3])))
    return out


def stats_of(text, cluster):
    return [s for s in samples(text) if s[0].startswith("isilon_stat_") and s[1].get("cluster") == cluster]


def up(text, name):
    values = [s[2] for s in samples(text) if s[0] == "quadstats_onefs_exporter_up" and s[1].get("cluster") == name]
    return values[0] if values else None


def scraping(host, port=ALL_PORT, clusters=("alpha", "beta")):
    """The page once every cluster is up with isilon_stat_* series, else None."""
    text = fetch(host, port)
    ok = text and all(up(text, name) == 1 and stats_of(text, name) for name in clusters)
    return text if ok else None


def cx_series(host, name=SLEEPER):
    """The container exporter's samples of the container ``name`` once its CPU and state series are there."""
    found = [s for s in samples(fetch(host, CX_PORT)) if s[1].get("name") == name]
    names = {s[0] for s in found}
    return found if {"container_cpu_usage_seconds_total", "container_state"} <= names else None


def assert_no_secret_on_host(host, secret):
    files = {
        "the quadlet": host.file(QUADLET).content_string,
        "the config": host.file(CONFIG).content_string,
        "the container exporter's quadlet": host.file(CX_QUADLET).content_string,
        "the container exporter's config": host.file(CX_CONFIG).content_string,
        "the collector's quadlet": host.file(COLLECTOR_QUADLET).content_string,
        "the collector's config": host.file(ALLOY_CONFIG).content_string,
    }
    SERVICE.assert_no_secret(host, secret, files)
    CX.assert_no_secret(host, secret)
    COLLECTOR.assert_no_secret(host, secret)


@pytest.mark.parametrize(("service", "module"), [(SERVICE, "onefs_exporter"), (CX, "container_exporter")])
def test_units_active_as_the_one_service_user(host, service, module):
    assert service.wait_active(host) == "active"
    daemons = [
        line.split(None, 1)
        for line in host.run("ps -eo user:20,args").stdout.splitlines()
        if f"services.{module}" in line and "ps -eo" not in line
    ]
    assert daemons, f"the {module} daemon process is not running"
    assert {user for user, _args in daemons} == {USER}, daemons


def test_stats_collector_active_as_the_service_user(host):
    assert COLLECTOR.wait_active(host) == "active"
    assert COLLECTOR.run(host, f"podman container exists {COLLECTOR.container}").rc == 0


def test_container_exporter_sees_the_users_quadlet_containers(host):
    series = wait_for(lambda: cx_series(host), timeout=60)
    assert series, f"no series named {SLEEPER}: {fetch(host, CX_PORT)[-2000:]}"
    labels = {s[0]: s[1] for s in series}
    assert labels["container_cpu_usage_seconds_total"]["unit"] == "qs-sleeper.service"
    assert labels["container_cpu_usage_seconds_total"]["image"] == "localhost/qs-services:test"
    running = [s for s in series if s[0] == "container_state" and s[1]["state"] == "running"]
    assert running and running[0][2] == 1
    # The cgroup fast path read it (CPU time from cpu.stat), not an invented value.
    assert next(s[2] for s in series if s[0] == "container_cpu_usage_seconds_total") > 0
    # The other exporter of the same user is one of its containers too.
    assert cx_series(host, CONTAINER), "the onefs-exporter container is not exported"
    text = fetch(host, CX_PORT)
    assert "quadstats_container_exporter_engine_up 1" in text
    assert "quadstats_container_exporter_read_errors_total" not in text, "some container could not be read"
    one = json.loads(fetch(host, CX_PORT, f"/containers/{SLEEPER}"))
    assert one["name"] == SLEEPER, one


def test_heartbeats_reach_the_backend_with_the_token(host):
    record = wait_for(sleeper_heartbeat, timeout=60)
    assert record, f"no accepted heartbeat with the sleeper's ping and /srv: {heartbeats()[-3:]}"
    assert record["path"] == "/metric"
    ping = next(i for i in record["body"] if i["name"] == f"container {SLEEPER}")
    assert (ping["type"], ping["value"]) == ("ping", 1)
    assert all(r["authorized"] for r in heartbeats()), "a heartbeat came without the right Bearer token"


def test_backend_token_is_a_private_credential_file(host):
    cred = host.file(f"{CREDENTIALS}/{CX_CREDENTIAL}")
    assert (cred.user, cred.mode, cred.content_string) == (USER, 0o600, backend_token())
    quadlet = host.file(CX_QUADLET).content_string
    assert f"LoadCredential={CX_CREDENTIAL}:{CREDENTIALS}/{CX_CREDENTIAL}" in quadlet
    assert f"Volume=%d/{CX_CREDENTIAL}:/run/credentials/container_exporter/{CX_CREDENTIAL}:ro" in quadlet
    assert "PodmanArgs=--pid=host" in quadlet and "Volume=/sys/fs/cgroup:/sys/fs/cgroup:ro" in quadlet
    assert f'token_file: "/run/credentials/container_exporter/{CX_CREDENTIAL}"' in host.file(CX_CONFIG).content_string
    assert "Environment" not in quadlet and "Secret=" not in quadlet


def test_all_clusters_listener_serves_both_simulators(host):
    text = wait_for(lambda: scraping(host), timeout=90)
    assert text, f"no isilon_stat_* series of both clusters: {fetch(host, ALL_PORT)[-2000:]}"
    cpu = [s for s in stats_of(text, "alpha") if s[0] == "isilon_stat_cluster_cpu_user_avg"]
    assert len(cpu) == 1
    nodes = {(s[1]["node"], s[1]["devid"]) for s in stats_of(text, "beta") if s[0] == "isilon_stat_node_load_1min"}
    assert len(nodes) == 3, nodes  # one series per up node of the 3-node simulator, with LNN and devid
    assert any(s[0].startswith("isilon_stat_node_summary_") for s in stats_of(text, "alpha"))


def test_per_cluster_listener_serves_alpha_only(host):
    text = wait_for(lambda: scraping(host, ALPHA_PORT, ("alpha",)))
    assert text
    clusters = {s[1].get("cluster") for s in samples(text) if s[0].startswith("isilon_stat_")}
    assert clusters == {"alpha"}


def test_http_sd_lists_the_metrics_listeners(host):
    doc = json.loads(fetch(host, SD_PORT, "/sd"))
    targets = sorted(t for group in doc for t in group["targets"])
    assert targets == [f"127.0.0.1:{ALL_PORT}", f"127.0.0.1:{ALPHA_PORT}"]


def test_collector_config_lists_both_exporters(host):
    """site.yml filled the collector's scrape config from the exporters' facts: nothing was copied by hand."""
    config = host.file(ALLOY_CONFIG).content_string
    cx_target = r'"__address__"\s*=\s*"127\.0\.0\.1:9886",\s*"instance"\s*=\s*"[^"]+",\s*"job"\s*=\s*'
    cx_target += '"container_exporter"'
    assert re.search(cx_target, config), config
    assert re.search(r'discovery\.http "extra" \{\s*url\s*=\s*"http://127\.0\.0\.1:9999/sd"', config), config
    # the SD's loopback targets are named after the host (instance <host>:<port>) before they are scraped
    assert re.search(r'discovery\.relabel "http_sd" \{\s*targets = discovery\.http\.extra\.targets', config), config
    assert "targets         = discovery.relabel.http_sd.output" in config
    quadlet = host.file(COLLECTOR_QUADLET).content_string
    assert "Network=pasta:" + ",".join(f"-T,{port}" for port in sorted(FORWARDED)) in quadlet, quadlet
    # The running collector's pasta forwards exactly those ports (the unit was started from this quadlet).
    processes = host.run("ps -eo args").stdout.splitlines()
    forwarding = [re.findall(r" -T (\S+)", line) for line in processes if line.startswith("/usr/bin/pasta")]
    forwarding = [ports for ports in forwarding if ports != ["none"]]  # podman gives the others "-T none"
    assert forwarding == [[str(port) for port in sorted(FORWARDED)]], processes


def test_collector_reaches_both_exporters_from_its_own_network_namespace(host):
    found = wait_for(lambda: collector_scrapes_both(host), timeout=90)
    assert found, f"from the collector's netns: {fetch_inside(host, COLLECTOR.container, SD_PORT, '/sd')!r}"
    cx_text, targets, pages = found
    assert "container_cpu_usage_seconds_total" in cx_text
    # The HTTP SD lists loopback targets, which are right from inside the collector too.
    assert targets == [f"127.0.0.1:{ALL_PORT}", f"127.0.0.1:{ALPHA_PORT}"]
    assert stats_of(pages[f"127.0.0.1:{ALL_PORT}"], "beta"), "the all-clusters page lacks beta"
    # Only the forwarded ports: the host's sshd (port 22 on every address) is not reachable there.
    assert host.socket("tcp://0.0.0.0:22").is_listening
    assert connect_inside(host, COLLECTOR.container, 22) == "ECONNREFUSED"


def test_a_container_on_podmans_default_network_does_not_reach_them(host):
    """Why the forwarding exists: rootless podman's pasta network gives a container no way to the host's loopback."""
    for port in (CX_PORT, SD_PORT):
        assert connect_inside(host, SLEEPER, port) == "ECONNREFUSED"
    assert connect_inside(host, COLLECTOR.container, CX_PORT) == "connected"


def test_listeners_on_loopback_only(host):
    sockets = [line.split()[3] for line in host.run("ss -ltnH").stdout.splitlines()]
    for port in (ALL_PORT, ALPHA_PORT, SD_PORT, CX_PORT, COLLECTOR_PORT):
        listeners = [address for address in sockets if address.endswith(f":{port}")]
        assert listeners == [f"127.0.0.1:{port}"], listeners


def test_each_password_is_a_private_credential_file(host):
    quadlet = host.file(QUADLET).content_string
    config = host.file(CONFIG).content_string
    for name, secret in (("alpha", canary()), ("beta", beta_password())):
        credential = f"onefs-exporter-{name}.password"
        cred = host.file(f"{CREDENTIALS}/{credential}")
        assert (cred.user, cred.mode, cred.content_string) == (USER, 0o600, secret)
        assert f"LoadCredential={credential}:{CREDENTIALS}/{credential}" in quadlet
        assert f"Volume=%d/{credential}:{SECRETS}/{credential}:ro" in quadlet
        assert f'password_file: "{SECRETS}/{credential}"' in config
        assert host.file(f"{CONFIG_DIR}/ca/cluster-{name}.pem").content_string.startswith("-----BEGIN CERTIFICATE")
    assert "Environment" not in quadlet and "Secret=" not in quadlet


def test_secrets_leak_nowhere_on_the_host(host):
    for secret in secrets():
        assert_no_secret_on_host(host, secret)


def test_units_start_again_after_reboot_scrape_and_send(host):
    reboot(host)
    booted = time.time()
    assert SERVICE.wait_active(host) == "active"
    assert CX.wait_active(host) == "active"
    assert wait_for(lambda: scraping(host), timeout=90), "not scraping after the reboot"
    assert wait_for(lambda: cx_series(host), timeout=60), f"{SLEEPER} not exported after the reboot"
    assert wait_for(lambda: sleeper_heartbeat(booted), timeout=60), "no heartbeat after the reboot"
    assert COLLECTOR.wait_active(host) == "active"
    assert wait_for(lambda: collector_scrapes_both(host), timeout=90), "the collector does not reach them after reboot"


def test_converge_is_idempotent_silent_at_vvv_and_publishes_its_facts(host):
    pids = (SERVICE.main_pid(host), CX.main_pid(host), COLLECTOR.main_pid(host))
    output = playbook("converge.yml", "-vvv")
    assert re.search(r"changed=0\s", output), changed_tasks(output) or output[-3000:]
    assert not any(secret in output for secret in secrets()), "a secret reached the -vvv output"
    after = (SERVICE.main_pid(host), CX.main_pid(host), COLLECTOR.main_pid(host))
    assert after == pids, "an unchanged converge restarted a unit"
    assert "http://127.0.0.1:9999/sd" in output, "onefs_exporter_facts.http_sd_url not shown"
    assert "http://127.0.0.1:9886/metrics" in output, "container_exporter_facts.metrics_url not shown"


def test_check_mode_reports_no_change_on_a_converged_host(host):
    output = playbook("converge.yml", "--check", "--diff")
    assert re.search(r"changed=0\s", output), output[-3000:]
    assert not any(secret in output for secret in secrets())


@pytest.fixture
def changed_password():
    """A new canary for alpha; the simulator reads the same file, so it accepts only the new one from now on."""
    old = canary()
    new = f"qscanary-changed-{os.urandom(8).hex()}"
    canary_file().write_text(new)
    return old, new


def test_password_change_restarts_the_unit_and_it_still_scrapes(host, changed_password):
    old, new = changed_password
    before_pid, cx_pid, collector_pid = SERVICE.main_pid(host), CX.main_pid(host), COLLECTOR.main_pid(host)
    output = playbook("converge.yml", "-vvv")
    assert old not in output and new not in output, "a password reached the -vvv output"
    assert backend_token() not in output, "the backend token reached the -vvv output"
    assert re.search(r"changed=[1-9]", output)
    assert SERVICE.wait_active(host) == "active"
    assert SERVICE.main_pid(host) != before_pid, "the unit was not restarted"
    assert CX.main_pid(host) == cx_pid, "the container exporter was restarted for another role's change"
    assert COLLECTOR.main_pid(host) == collector_pid, "the collector was restarted though its wiring is the same"
    assert host.file(f"{CREDENTIALS}/onefs-exporter-alpha.password").content_string == new
    assert wait_for(lambda: scraping(host), timeout=90), "not scraping with the new password"
    assert_no_secret_on_host(host, new)


def test_token_change_restarts_the_container_exporter_and_heartbeats_go_on(host):
    """The receiver reads the token file on every request, so from now on it accepts only the new token."""
    token_file = ephemeral_dir() / "simulators" / "backend.token"
    old, new = token_file.read_text().strip(), f"qscanary-backend-changed-{os.urandom(8).hex()}"
    token_file.write_text(new)
    before_pid, onefs_pid = CX.main_pid(host), SERVICE.main_pid(host)
    output = playbook("converge.yml", "-vvv")
    assert old not in output and new not in output, "a token reached the -vvv output"
    assert CX.wait_active(host) == "active"
    assert CX.main_pid(host) != before_pid, "the container exporter was not restarted"
    assert SERVICE.main_pid(host) == onefs_pid, "the OneFS exporter was restarted for another role's change"
    assert host.file(f"{CREDENTIALS}/{CX_CREDENTIAL}").content_string == new
    changed = time.time()
    assert wait_for(lambda: sleeper_heartbeat(changed), timeout=60), "no accepted heartbeat with the new token"
    assert_no_secret_on_host(host, new)


def test_state_absent_removes_it_all(host):
    playbook("absent.yml")
    for service in (SERVICE, CX, COLLECTOR):
        assert service.run(host, f"systemctl --user cat {service.unit}").rc != 0, f"{service.unit} still exists"
        assert service.run(host, f"podman container exists {service.container}").rc == 1
    for path in (QUADLET, CONFIG_DIR, CX_QUADLET, CX_CONFIG_DIR, COLLECTOR_QUADLET, ALLOY_CONFIG):
        assert not host.file(path).exists, f"{path} left behind"
    assert not host.run(OUR_CREDENTIALS).stdout, "credentials left behind"
    listening = host.run("ss -ltnH").stdout
    assert not any(f":{port} " in listening for port in (*FORWARDED, COLLECTOR_PORT)), listening
    # Removing the exporter leaves the user's other containers alone.
    assert CX.run(host, "systemctl --user is-active qs-sleeper.service").stdout.strip() == "active"
    again = playbook("absent.yml")
    assert re.search(r"changed=0\s", again), again[-3000:]


def test_check_mode_on_a_host_without_the_exporters_changes_nothing(host):
    output = playbook("converge.yml", "--check", "--diff")
    assert re.search(r"changed=[1-9]", output), "check mode does not report the deployment it would make"
    assert not any(secret in output for secret in secrets())
    for path in (QUADLET, CONFIG_DIR, CX_QUADLET, CX_CONFIG_DIR, COLLECTOR_QUADLET, ALLOY_CONFIG):
        assert not host.file(path).exists, f"check mode wrote {path}"
    assert not host.run(OUR_CREDENTIALS).stdout, "check mode wrote credentials"
