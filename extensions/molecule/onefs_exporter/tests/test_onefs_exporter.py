"""Verify quadstats.stack.onefs_exporter on a live Debian 13 host (molecule verify, testinfra over SSH).

What runs here: the collection's services image, built by the real ``podman build`` of services/Containerfile
(on a debootstrapped trixie base, no registry) and loaded for the service user; the role's quadlet, config,
per-cluster credentials and CAs; two OneFS simulators (alpha with the run's canary password, beta with a
second canary, each with its own test CA) on the machine side of the host's veth. Not proven here: a real
PowerScale cluster, and the statistics' values (the simulator's, see docs/onefs.md).

The tests run in file order: state after converge, scraping and HTTP SD, leak checks, reboot, idempotence
at -vvv, check mode, a password change, removal, check mode on the host without the exporter.
"""

import json
import os
import re

import pytest
import testinfra.utils.ansible_runner
from harness.molecule_checks import (
    INVENTORY,
    RootlessService,
    canary,
    canary_file,
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
QUADLET = f"/home/{USER}/.config/containers/systemd/onefs-exporter.container"
CONFIG_DIR = f"/home/{USER}/.config/onefs-exporter"
CONFIG = f"{CONFIG_DIR}/onefs_exporter.yml"
SECRETS = "/run/credentials/onefs_exporter"
ALL_PORT, ALPHA_PORT, SD_PORT = 9100, 9101, 9999
SERVICE = RootlessService(USER, UNIT, CONTAINER)
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def beta_password():
    return (ephemeral_dir() / "simulators" / "beta.password").read_text().strip()


def fetch(host, port, path="/metrics"):
    """The page at 127.0.0.1:port on the host, '' when nothing answers."""
    code = f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}{path}', timeout=5).read().decode())"
    result = host.run(f'python3 -c "{code}"')
    return result.stdout if result.rc == 0 else ""


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


def assert_no_secret_on_host(host, secret):
    files = {"the quadlet": host.file(QUADLET).content_string, "the config": host.file(CONFIG).content_string}
    SERVICE.assert_no_secret(host, secret, files)


def test_unit_active_as_the_service_user(host):
    assert SERVICE.wait_active(host) == "active"
    daemons = [
        line.split(None, 1)
        for line in host.run("ps -eo user:20,args").stdout.splitlines()
        if "services.onefs_exporter" in line and "ps -eo" not in line
    ]
    assert daemons, "the daemon process is not running"
    assert {user for user, _args in daemons} == {USER}, daemons


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


def test_listeners_on_loopback_only(host):
    sockets = [line.split()[3] for line in host.run("ss -ltnH").stdout.splitlines()]
    for port in (ALL_PORT, ALPHA_PORT, SD_PORT):
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


def test_passwords_leak_nowhere_on_the_host(host):
    for secret in (canary(), beta_password()):
        assert_no_secret_on_host(host, secret)


def test_unit_starts_again_after_reboot_and_scrapes(host):
    reboot(host)
    assert SERVICE.wait_active(host) == "active"
    assert wait_for(lambda: scraping(host), timeout=90), "not scraping after the reboot"


def test_converge_is_idempotent_silent_at_vvv_and_publishes_its_facts(host):
    pid = SERVICE.main_pid(host)
    output = playbook("converge.yml", "-vvv")
    assert re.search(r"changed=0\s", output), output[-3000:]
    assert canary() not in output and beta_password() not in output, "a password reached the -vvv output"
    assert SERVICE.main_pid(host) == pid, "an unchanged converge restarted the unit"
    assert "http://127.0.0.1:9999/sd" in output, "onefs_exporter_facts.http_sd_url not shown"


def test_check_mode_reports_no_change_on_a_converged_host(host):
    output = playbook("converge.yml", "--check", "--diff")
    assert re.search(r"changed=0\s", output), output[-3000:]
    assert canary() not in output and beta_password() not in output


@pytest.fixture
def changed_password():
    """A new canary for alpha; the simulator reads the same file, so it accepts only the new one from now on."""
    old = canary()
    new = f"qscanary-changed-{os.urandom(8).hex()}"
    canary_file().write_text(new)
    return old, new


def test_password_change_restarts_the_unit_and_it_still_scrapes(host, changed_password):
    old, new = changed_password
    before_pid = SERVICE.main_pid(host)
    output = playbook("converge.yml", "-vvv")
    assert old not in output and new not in output, "a password reached the -vvv output"
    assert re.search(r"changed=[1-9]", output)
    assert SERVICE.wait_active(host) == "active"
    assert SERVICE.main_pid(host) != before_pid, "the unit was not restarted"
    assert host.file(f"{CREDENTIALS}/onefs-exporter-alpha.password").content_string == new
    assert wait_for(lambda: scraping(host), timeout=90), "not scraping with the new password"
    assert_no_secret_on_host(host, new)


def test_state_absent_removes_it_all(host):
    playbook("absent.yml")
    assert SERVICE.run(host, f"systemctl --user cat {UNIT}").rc != 0, "the unit still exists"
    for path in (QUADLET, CONFIG_DIR):
        assert not host.file(path).exists, f"{path} left behind"
    assert not host.run(f"ls {CREDENTIALS} | grep onefs-exporter").stdout, "credentials left behind"
    assert SERVICE.run(host, f"podman container exists {CONTAINER}").rc == 1
    listening = host.run("ss -ltnH").stdout
    assert not any(f":{port} " in listening for port in (ALL_PORT, ALPHA_PORT, SD_PORT)), listening
    again = playbook("absent.yml")
    assert re.search(r"changed=0\s", again), again[-3000:]


def test_check_mode_on_a_host_without_the_exporter_changes_nothing(host):
    output = playbook("converge.yml", "--check", "--diff")
    assert re.search(r"changed=[1-9]", output), "check mode does not report the deployment it would make"
    assert canary() not in output and beta_password() not in output
    assert not host.file(QUADLET).exists and not host.file(CONFIG_DIR).exists, "check mode wrote files"
    assert not host.run(f"ls {CREDENTIALS} | grep onefs-exporter").stdout, "check mode wrote credentials"
