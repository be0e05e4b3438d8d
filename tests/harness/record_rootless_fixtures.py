"""Record real cgroup v2 files and podman API answers of rootless quadlets on a Debian 13 target.

Re-run to refresh the fixtures (as root, with the venv):

    python tests/harness/record_rootless_fixtures.py

It boots a disposable target, starts the quadlets of
tests/integration/containers/playbooks/rootless_quadlets.yml (a busy loop and an idle process of
a lingering user), and writes verbatim copies under tests/unit/containers/fixtures/:
``cgroup_v2_debian13/`` (``proc/<pid>/cgroup``, ``proc/<pid>/net/dev``, the cgroup lines of
``proc/mountinfo`` and every readable file of each container's cgroup directory) and
``api/podman-<version>/`` (libpod and compat answers from the user's socket).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.target_host import TargetHost

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests/integration/containers/playbooks/rootless_quadlets.yml"
FIXTURES = ROOT / "tests/unit/containers/fixtures"
USER = "qsstats"

# Runs on the target (python3, standard library) as root; prints one JSON document.
ON_TARGET = r"""
import http.client, json, os, pwd, socket, subprocess

user = pwd.getpwnam("%(user)s")
sock_path = "/run/user/%%d/podman/podman.sock" %% user.pw_uid


class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock_path)


def get(path):
    conn = Unix("localhost")
    conn.request("GET", path)
    body = conn.getresponse().read().decode()
    conn.close()
    return body


files = {}
version = json.loads(get("/v1.41/version"))["Version"]
api = "api/podman-" + version
files[api + "/podman_compat_version.json"] = get("/v1.41/version")
files[api + "/podman_libpod_containers.json"] = get("/v5.0.0/libpod/containers/json")
files[api + "/podman_libpod_stats.json"] = get("/v5.0.0/libpod/containers/stats?stream=false")
files[api + "/podman_compat_containers.json"] = get("/v1.41/containers/json")
info = json.loads(get("/v5.0.0/libpod/info"))
files[api + "/podman_libpod_info.json"] = json.dumps(
    {"host": {k: info["host"].get(k) for k in ("arch", "cgroupManager", "cgroupVersion", "security", "os")},
     "version": info.get("version")}, indent=2)
mountinfo = [line for line in open("/proc/self/mountinfo") if " - cgroup" in line]
files["cgroup_v2_debian13/proc/mountinfo"] = "".join(mountinfo)
pids = {}
for entry in json.loads(get("/v5.0.0/libpod/containers/json")):
    name, ident, pid = entry["Names"][0], entry["Id"], entry["Pid"]
    pids[name] = [ident, pid]
    files[api + "/podman_compat_stats_%%s.json" %% name] = get(
        "/v1.41/containers/%%s/stats?stream=false&one-shot=true" %% ident)
    cgroup = open("/proc/%%d/cgroup" %% pid).read()
    files["cgroup_v2_debian13/proc/%%d/cgroup" %% pid] = cgroup
    files["cgroup_v2_debian13/proc/%%d/net/dev" %% pid] = open("/proc/%%d/net/dev" %% pid).read()
    rel = cgroup.strip().split("::", 1)[1]
    base = "/sys/fs/cgroup" + rel
    for fname in sorted(os.listdir(base)):
        path = os.path.join(base, fname)
        try:
            text = open(path).read()
        except OSError:
            continue
        files["cgroup_v2_debian13/sys/fs/cgroup" + rel + "/" + fname] = text
print(json.dumps({"files": files, "containers": pids, "version": version}))
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "hosts.yml"
        host = TargetHost("qs-fixtures")
        try:
            host.up(inventory=inventory)
            subprocess.run(
                [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            out = subprocess.run(
                [*host.ssh_argv(), "python3", "-"],
                input=ON_TARGET % {"user": USER},
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
        finally:
            host.destroy()
    recorded = json.loads(out)
    for rel, text in recorded["files"].items():
        path = FIXTURES / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(json.dumps({"podman": recorded["version"], "containers": recorded["containers"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
