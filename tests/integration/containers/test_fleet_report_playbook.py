"""playbooks/fleet_report.yml end to end: real containers on rootful podman and a OneFS simulator as the
fleet, gathered into facts, printed as one table, written as Markdown and CSV, then printed again from
the fact cache alone."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
import yaml
from podman_env import REPO, Podman, podman_available

from harness.onefs_simulator import OneFSSimulator

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not podman_available(), reason="needs rootful podman and runc on this machine"),
]

MIB = 1024 * 1024
PASSWORD = "fleet-canary-9c1e"  # noqa: S105 - the simulator's throwaway password, also a leak canary


@pytest.fixture(scope="module")
def fleet():
    podman = Podman()
    sim = OneFSSimulator(seed=5, nodes=4, down=(3,), password=PASSWORD, username="statsreader").start()
    try:
        podman.names = {
            "mem": podman.run(
                "mem", f"head -c {24 * MIB} /dev/zero > /dev/shm/hold && exec sleep 600", "--memory", "64m"
            ),
            "busy": podman.run("busy", "while :; do :; done"),
        }
        yield podman, sim
    finally:
        sim.stop()
        podman.cleanup()


def run_report(tmp_path, podman, sim, *extra):
    inventory = {
        "all": {
            "children": {
                "quadstats_hosts": {
                    "hosts": {
                        "box": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                            "fleet_report_container_socket": podman.socket,
                        }
                    }
                },
                "quadstats_onefs_clusters": {
                    "hosts": {"sim": {"onefs_host": "127.0.0.1", "onefs_port": sim.port, "onefs_ca_path": sim.ca_path}}
                },
            },
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(yaml.safe_dump({"onefs_username": "statsreader", "onefs_password": PASSWORD}))
    env = dict(
        os.environ,
        PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".venv"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CACHE_PLUGIN="jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
    )
    env.pop("DOCKER_HOST", None)
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            str(tmp_path / "hosts.yml"),
            str(REPO / "playbooks" / "fleet_report.yml"),
            "-e",
            f"@{secrets}",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert PASSWORD not in proc.stdout + proc.stderr
    return proc.stdout


def table_rows(stdout):
    """The table lines of the 'Show the fleet' task's msg (the YAML result format of ansible.cfg)."""
    task = stdout.index("TASK [Show the fleet]")
    start = stdout.index("=>", task) + 2
    end = stdout.index("\nTASK [", start)
    return yaml.safe_load(stdout[start:end])["msg"]


def test_fleet_report_prints_writes_and_reads_the_fact_cache(fleet, tmp_path):
    podman, sim = fleet
    markdown, csv_dir = tmp_path / "fleet.md", tmp_path / "csv"
    csv_dir.mkdir()
    out = run_report(
        tmp_path, podman, sim, "-e", f"fleet_report_markdown={markdown}", "-e", f"fleet_report_csv_dir={csv_dir}"
    )
    lines = table_rows(out)
    mem_line = next(line for line in lines if podman.names["mem"] in line).split()
    busy_line = next(line for line in lines if podman.names["busy"] in line).split()
    # host, container, state, CPU %, memory (number, unit), limit (number, unit), restarts
    assert mem_line[:3] == ["box", podman.names["mem"], "running"]
    assert mem_line[6:8] == ["64.0", "MiB"], mem_line
    assert 20 <= float(mem_line[4]) < 64 and mem_line[5] == "MiB", mem_line
    assert float(busy_line[3]) > 5, busy_line  # a busy loop sampled over one second (on a shared machine)
    cluster_line = next(line for line in lines if line.startswith("SimCluster"))
    cells = cluster_line.split()
    assert cells[1] == "attention" and cells[-1] == "3", cells  # node 3 is down
    assert 0 < float(cells[2]) < 100

    rows = {r["container"]: r for r in csv.DictReader((csv_dir / "containers.csv").open())}
    assert rows[podman.names["mem"]]["memory_limit"] == "64.0 MiB"
    clusters = list(csv.DictReader((csv_dir / "clusters.csv").open()))
    assert [c["nodes_down"] for c in clusters] == ["3"]
    assert f"| box | {podman.names['mem']} | running |" in markdown.read_text()

    # From the fact cache only: the same fleet without reading any host.
    podman.podman("stop", "-t", "0", podman.names["busy"])
    cached = table_rows(run_report(tmp_path, podman, sim, "-e", "fleet_report_gather=false"))
    assert any(podman.names["busy"] in line and "running" in line for line in cached)
    assert any(line.split()[:2] == [cluster_line.split()[0], "attention"] for line in cached)
