"""Container statistics benchmark: what one module call costs over N idle containers, side by side.

Starts a private rootful ``podman system service`` (test-only containers.conf: runc, ulimits) and
N idle busybox containers (local image, no registry), then times, in one run:

1. ``module call`` - exactly what ``container_stats`` does in-process with its defaults: connect
   (``GET /_ping``), list the running containers (one libpod list: state, PID, start time),
   read every container's cgroup and ``/proc/<pid>/net/dev`` (cpu, memory, network, blkio, pids,
   state), describe the engine, close. Python start-up and Ansible's own overhead are not included;
2. ``podman stats --no-stream --format json`` (the CLI, its own process; what a user would run);
3. ``module call, podman command`` - the same through the ``podman`` CLI engine (no API socket):
   ``podman --version`` and ``podman ps --format json`` processes, then cgroups;
4. ``daemon collection`` - a sampler that already knows the running set (an exporter daemon keeps it
   exact with the events stream): cgroup reads only;
5. ``API path`` - the sampler with source=api (one libpod stats call), discovery included;
6. ``libpod list`` alone (the discovery request of 1 and 5).

Wall time and CPU time (min/median/max over the repeats). CPU counts every process doing the work:
this process (``process_time``), the podman service (its threads' scheduler run time) and child
processes (``RUSAGE_CHILDREN``). The sampler's memory is the max RSS of a fresh Python process that
runs only the daemon collection. Containers are removed at the end.

Run from the repository root as root:
  .venv/bin/python benchmarks/container_stats_bench.py [--containers 100 --repeats 15]

As a rootless user (a Debian 13 target: system python3, standard library only; the collection's
``plugins/module_utils`` and the tests' ``podman_env.py`` and ``harness/images.py`` laid out as in the
checkout under ``ansible_collections/quadstats/stack/``), with a local image already in the user's
storage and no user podman socket running; the benchmark starts its own ``podman system service`` on
a private socket, in its own user scope. ``container_stats_bench_target.py`` boots a
target, prepares the user and runs this:
  python3 benchmarks/container_stats_bench.py --image localhost/qs-busybox:bench [--list-query size=false]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parents[1]
# The checkout's venv links the collection; a copy on a target lies under ansible_collections/quadstats/stack.
COLLECTIONS = ROOT.parents[2] if ROOT.parents[1].name == "ansible_collections" else ROOT / ".venv"
sys.path[:0] = [str(COLLECTIONS), str(ROOT / "tests"), str(ROOT / "tests" / "integration" / "containers")]

from podman_env import Podman, podman_available  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine as engine_mod  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import ContainerSampler  # noqa: E402

GROUPS = ["cpu", "memory", "network", "blkio", "pids"]

RSS_PROBE = """
import resource, sys
GROUPS = ["cpu", "memory", "network", "blkio", "pids"]
sys.path.insert(0, sys.argv[1])
from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine, sampler
eng = engine.connect(sock=sys.argv[2])
col = sampler.ContainerSampler(eng, source="cgroup", metrics=GROUPS)
refs = [r for r in eng.list_running() if r["name"].startswith(sys.argv[3])]
for _ in range(20):
    samples = col.sample(refs)
print(len(samples), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def proc_cpu(pid):
    """CPU seconds of every thread of ``pid`` (scheduler run time, nanosecond resolution)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[0])
        except FileNotFoundError:
            continue
    return total / 1e9


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(action, service_cpu, repeats, warm=True):
    walls, cpus = [], []
    if warm:
        action()  # warm-up (connections, caches), not counted
    for _repeat in range(repeats):
        svc0, own0, kids0, t0 = service_cpu(), time.process_time(), children_cpu(), time.perf_counter()
        count = action()
        t1, own1, kids1, svc1 = time.perf_counter(), time.process_time(), children_cpu(), service_cpu()
        walls.append((t1 - t0) * 1000)
        cpus.append(((own1 - own0) + (kids1 - kids0) + (svc1 - svc0)) * 1000)
    return count, walls, cpus


def fmt(values):
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def start_containers(env, count):
    names = [f"{env.prefix}idle-{i:03d}" for i in range(count)]
    for name in names:
        env.podman("create", "--name", name, "--label", env.label, env.image, "sleep", "3600")
    for start in range(0, count, 25):
        env.podman("start", *names[start : start + 25], timeout=300)
    return names


def user_podman(image):
    """The invoking rootless user's podman: no test containers.conf, ``image`` already in the user's
    storage, the service in its own scope, whose cgroup's CPU counts threads that exit (podman ends
    the threads it locked into a container's namespaces; per-thread schedstat would lose them)."""
    env = Podman(containers_conf=None, image=image, service_wrapper=["systemd-run", "--user", "--scope", "--quiet"])

    def service_cpu():
        """CPU seconds of the service's scope (cgroup v2 ``cpu.stat`` is there without controllers)."""
        with open(f"/proc/{env.services[0].pid}/cgroup") as handle:
            path = handle.read().strip().split("::", 1)[1]
        with open(f"/sys/fs/cgroup{path}/cpu.stat") as handle:
            return int(handle.readline().split()[1]) / 1e6  # usage_usec

    env.service_cpu = service_cpu
    return env


def podman_env(image):
    """Rootful: the tests' podman (test containers.conf, image built here); rootless: :func:`user_podman`."""
    if os.geteuid() != 0:
        if not image:
            sys.exit("as a rootless user, give --image: a local image in your storage (localhost/qs-busybox:bench)")
        runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
        user_socket = os.path.join(runtime_dir, "podman", "podman.sock")
        if os.path.exists(user_socket):
            sys.exit(f"{user_socket} exists; the podman-command figure needs no user socket (stop podman.socket)")
        return user_podman(image)
    if not podman_available():
        sys.exit("needs root, podman and runc (apt-get install podman runc busybox-static)")
    if os.path.exists(engine_mod.SYSTEM_PODMAN_SOCKET) or os.path.exists(engine_mod.DOCKER_SOCKET):
        sys.exit("an engine socket exists on this machine; the podman-command figure needs a host without one")
    env = Podman()
    os.environ.update(env.env)  # the podman command engine uses the test containers.conf too
    return env


def module_call(socket_path, labels, podman_command=None):
    """What container_stats does with its default options (see the docstring)."""
    if podman_command:
        eng = engine_mod.connect(env={**os.environ, "XDG_RUNTIME_DIR": "/nonexistent"}, podman_command=podman_command)
    else:
        eng = engine_mod.connect(sock=socket_path)
    try:
        samples = ContainerSampler(eng).collect(labels=labels)
        eng.describe()
    finally:
        eng.close()
    if any(s["state"] != "running" or s.get("error") for s in samples):
        raise RuntimeError("a container was not read: " + repr([s.get("error") for s in samples][:3]))
    return len(samples)


def list_request(eng, path, query=None):
    """One list request as the engine client sends it; the number of containers it returned."""
    return len(eng.client.get_json(path, query) or [])


def engine_setup(eng):
    """Rootless or rootful, OCI runtime and cgroup layout, for the table's heading."""
    info = eng.client.get_json(engine_mod.LIBPOD_PREFIX + "/info")
    host = info.get("host") or {}
    runtime = (host.get("ociRuntime") or {}).get("name") or "?"
    cgroups = host.get("cgroupVersion") or "?"
    db = host.get("databaseBackend")
    mode = "rootless" if eng.describe()["rootless"] else "rootful"
    return f"{mode} podman {eng.version} ({runtime}, cgroup {cgroups}{', ' + db if db else ''})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--image", help="a local image to start the containers from (required when rootless)")
    parser.add_argument(
        "--list-query",
        action="append",
        default=[],
        metavar="QUERY",
        help="also time the libpod list with this query string (e.g. 'size=false&sync=false'); repeatable",
    )
    parser.add_argument("--compat-list", action="store_true", help="also time the Docker-compatible list")
    args = parser.parse_args()
    env = podman_env(args.image)
    try:
        t0 = time.perf_counter()
        start_containers(env, args.containers)
        print(f"started {args.containers} idle containers in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        service_pid = env.services[0].pid
        # Rootful on the machine (cgroup v1): the service's threads; the rootless user's scope has its own.
        service_cpu = getattr(env, "service_cpu", None) or (lambda: proc_cpu(service_pid))
        labels = {"io.quadstats.test": env.run_id}
        eng = engine_mod.connect(sock=env.socket)
        setup = engine_setup(eng)
        refs = [r for r in eng.list_running() if r["name"].startswith(env.prefix)]
        if len(refs) != args.containers:
            sys.exit(f"expected {args.containers} running containers, found {len(refs)}")
        daemon = ContainerSampler(eng, metrics=[*GROUPS, "state"])
        api = ContainerSampler(eng, source="api", metrics=GROUPS)
        names = [r["name"] for r in refs]

        def cli():
            proc = env.podman("stats", "--no-stream", "--format", "json", *names, check=False)
            if proc.returncode != 0:
                raise RuntimeError("podman stats failed: " + proc.stderr.strip())
            return len(json.loads(proc.stdout))

        libpod_list = engine_mod.LIBPOD_PREFIX + "/containers/json"
        methods = [
            ("module call (in-process, defaults)", lambda: module_call(env.socket, labels)),
            ("`podman stats --no-stream`", cli),
            ("module call through the podman command", lambda: module_call(None, labels, "podman")),
            ("daemon collection (running set known)", lambda: len(daemon.sample(refs))),
            ("API path (source=api, libpod, with discovery)", lambda: len(api.collect(labels=labels))),
            ("libpod list alone", lambda: list_request(eng, libpod_list)),
        ]
        for query in args.list_query:
            pairs = parse_qsl(query, keep_blank_values=True)
            methods.append((f"libpod list `?{query}`", lambda pairs=pairs: list_request(eng, libpod_list, pairs)))
        if args.compat_list:
            compat_list = engine_mod.COMPAT_PREFIX + "/containers/json"
            methods.append((f"compat list (`{compat_list}`)", lambda: list_request(eng, compat_list)))
        rows = interleaved(methods, service_cpu, args.repeats)
        eng.close()
        probe = subprocess.run(
            [sys.executable, "-c", RSS_PROBE, str(COLLECTIONS), env.socket, env.prefix],
            capture_output=True,
            text=True,
            check=True,
        )
        sampled, rss_kib = probe.stdout.split()
    finally:
        env.cleanup()
    report(args, setup, rows, sampled, rss_kib)


def interleaved(methods, service_cpu, repeats):
    """Every method once per round, so load from other jobs hits all of them alike."""
    for _label, action in methods:
        action()  # warm-up (connections, caches, page cache), not counted
    results = {label: ([], []) for label, _action in methods}
    counts = {}
    loads = []
    for _round in range(repeats):
        loads.append(os.getloadavg()[0])
        for label, action in methods:
            count, walls, cpus = measure(action, service_cpu, 1, warm=False)
            counts[label] = count
            results[label][0].extend(walls)
            results[label][1].extend(cpus)
    rows = []
    for label, (walls, cpus) in results.items():
        rows.append((label, counts[label], walls, cpus))
        print(f"{label}: wall {fmt(walls)} ms, cpu {fmt(cpus)} ms", file=sys.stderr)
    print(f"load average (1 min) during the rounds: {min(loads):.1f}-{max(loads):.1f}", file=sys.stderr)
    return rows


def report(args, setup, rows, sampled, rss_kib):
    print(
        f"\n{args.containers} idle containers, {setup}, "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{args.repeats} interleaved rounds, load average {os.getloadavg()[0]:.1f}; "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}\n"
    )
    print("| method | containers | wall ms min / median / max | CPU ms min / median / max |")
    print("|---|---|---|---|")
    for label, count, walls, cpus in rows:
        print(f"| {label} | {count} | {fmt(walls)} | {fmt(cpus)} |")
    module_wall = statistics.median(rows[0][2])
    cli_wall = statistics.median(rows[1][2])
    module_cpu = statistics.median(rows[0][3])
    cli_cpu = statistics.median(rows[1][3])
    print(
        f"\nmodule call / podman stats: wall {module_wall / cli_wall:.2f}x, CPU {module_cpu / cli_cpu:.2f}x "
        "(medians; goal <= 0.25x)"
    )
    for label, _count, walls, cpus in rows[2:]:
        print(
            f"{label} / podman stats: wall {statistics.median(walls) / cli_wall:.2f}x, "
            f"CPU {statistics.median(cpus) / cli_cpu:.2f}x"
        )
    rss_mib = int(rss_kib) / 1024
    print(f"sampler process max RSS (fresh python, {sampled} containers x 20 collections): {rss_mib:.1f} MiB")


if __name__ == "__main__":
    main()
