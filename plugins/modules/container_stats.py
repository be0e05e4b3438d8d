#!/usr/bin/python
# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: container_stats
short_description: Read CPU, memory, network, block IO and pids statistics of Docker or Podman containers
version_added: "0.1.0"
description:
  - Reads statistics of the running containers of a Docker or Podman engine on the managed host.
  - Fast path reads the container's cgroup (v1, v2 or hybrid) located from its PID's C(/proc/<pid>/cgroup),
    including rootless quadlet C(--cgroups=split) layouts, and its network counters from
    C(/proc/<pid>/net/dev). The engine API (libpod stats for Podman, Docker C(stats?one-shot=true)) is the
    fallback when the cgroup cannot be read.
  - Raw counters are always returned. With O(sample_seconds) > 0 the module samples twice and also
    returns rates (CPU percent where 100 means one full core, bytes and operations per second).
  - Read-only; never changes the host. Works for a rootless user through C(become_user) (the user's
    C(podman.socket) must be enabled).
  - Uses only the Python standard library on the managed host.
author:
  - quadstats.stack developers (@quadstats)
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  engine:
    description:
      - Which engine to talk to. V(auto) takes the first engine that answers in the documented order.
    type: str
    choices: [auto, docker, podman]
    default: auto
  socket:
    description:
      - Engine endpoint, e.g. C(/run/podman/podman.sock), C(unix:///run/user/1000/podman/podman.sock).
      - When not set, tried in order are C(DOCKER_HOST), the user's podman socket
        C($XDG_RUNTIME_DIR/podman/podman.sock) (or C(/run/user/<uid>/podman/podman.sock)), the system podman
        socket C(/run/podman/podman.sock) and the Docker socket C(/var/run/docker.sock).
    type: str
  containers:
    description:
      - Names or ids (a unique id prefix of at least 4 characters works) of the containers to read.
      - Default is every running container. An unknown name fails the task and names it; a known but stopped
        container is returned with RV(containers[].state) set to its state.
    type: list
    elements: str
    default: []
  labels:
    description:
      - Only containers whose engine labels contain all these key and value pairs. An empty value only
        requires the key.
    type: dict
    default: {}
  metrics:
    description:
      - Metric groups to read. Leaving out groups saves work.
    type: list
    elements: str
    choices: [cpu, memory, network, blkio, pids, state]
    default: [cpu, memory, network, blkio, pids, state]
  sample_seconds:
    description:
      - V(0) reads counters once. A positive value reads twice this many seconds apart and adds rates.
    type: float
    default: 0
  mounts:
    description:
      - Paths as seen inside the container (for example a volume's mount point) whose disk usage
        (statvfs, as used and limit bytes) is returned per container. Needs the cgroup path (local engine).
    type: list
    elements: path
    default: []
  source:
    description:
      - V(auto) reads cgroups when possible and falls back to the engine API per container;
        V(cgroup) only reads cgroups; V(api) only asks the engine.
    type: str
    choices: [auto, cgroup, api]
    default: auto
  timeout:
    description: Seconds to wait for each engine API answer.
    type: float
    default: 10
notes:
  - On cgroup v1 hosts with kernel 6.10 or later, block IO is only accounted for devices that have a
    C(blkio.throttle) rule; without one the block IO counters stay 0 (a kernel behaviour, not this module).
  - Memory working set is usage minus inactive file cache (cAdvisor's C(container_memory_working_set_bytes));
    it is absent from the libpod API source, which has no inactive_file figure.
  - Quadlet-managed containers are restarted by systemd, which creates a new container; RV(containers[].gauges)
    C(restart_count) counts only engine restarts (C(--restart) policy).
seealso:
  - plugin: quadstats.stack.container_stats
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Counters of every running container
  quadstats.stack.container_stats:
  register: stats

- name: CPU and memory of two containers, with rates over two seconds
  quadstats.stack.container_stats:
    containers: [web, db]
    metrics: [cpu, memory]
    sample_seconds: 2
  register: stats

- name: Rootless user's quadlet containers and the disk usage of their data volume
  quadstats.stack.container_stats:
    labels:
      PODMAN_SYSTEMD_UNIT: ""
    mounts: [/data]
  become: true
  become_user: metrics
  environment:
    XDG_RUNTIME_DIR: /run/user/1001

- name: Fail when the database uses more than 2 GiB
  ansible.builtin.assert:
    that:
      - (stats.containers | selectattr('name', 'equalto', 'db') | first).gauges.memory_working_set_bytes < 2 * 1024 ** 3
"""

RETURN = r"""
engine:
  description: The engine that answered.
  returned: success
  type: dict
  contains:
    kind:
      description: C(podman) or C(docker).
      type: str
      sample: podman
    version:
      description: Engine version.
      type: str
      sample: 4.3.1
    api_version:
      description: Docker-compatible API version the engine reports.
      type: str
      sample: "1.41"
    rootless:
      description: Whether the engine runs rootless (null when unknown).
      type: bool
      sample: false
    endpoint:
      description: The endpoint used.
      type: str
      sample: unix:///run/podman/podman.sock
    found_by:
      description: Which candidate found it (C(socket option), C(DOCKER_HOST), C(user podman socket), ...).
      type: str
      sample: system podman socket
containers:
  description: One entry per selected container.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Full container id.
      type: str
    name:
      description: Container name.
      type: str
      sample: web
    image:
      description: Image reference.
      type: str
    pid:
      description: PID of the container's init process on the host (null when unknown).
      type: int
    state:
      description: >-
        C(running); C(gone) when it stopped or was removed during sampling; the engine's state for a
        stopped container asked for by name.
      type: str
      sample: running
    reason:
      description: >-
        Why a container is not running or gone, or why the engine gave no statistics for a running one
        (for example rootless podman on cgroup v1); counters and gauges are then empty.
      type: str
      returned: when a container is not running, gone, or has no statistics
    source:
      description: >-
        Where the numbers came from, C(cgroup-v1), C(cgroup-v2), C(api-libpod), C(api-compat), or C(none)
        when there are none.
      type: str
      sample: cgroup-v2
    cgroup_path:
      description: The container's cgroup path (cgroup sources).
      type: str
      returned: when read from cgroups
      sample: /user.slice/user-1001.slice/user@1001.service/app.slice/web.service/libpod-payload-0123
    labels:
      description: >-
        Series labels, C(id), C(name), C(image) and, where present, C(pod), C(unit) (quadlet/systemd unit)
        and C(compose_project).
      type: dict
      sample: {"id": "0123", "name": "web", "image": "localhost/web:1", "unit": "web.service"}
    counters:
      description: >-
        Cumulative counters, C(cpu_usage_ns), C(cpu_user_ns), C(cpu_system_ns), C(cpu_throttled_periods),
        C(cpu_throttled_ns), C(memory_oom_kills), C(net_rx_bytes), C(net_tx_bytes), C(net_rx_packets),
        C(net_tx_packets), C(net_rx_errors), C(net_tx_errors), C(net_rx_dropped), C(net_tx_dropped),
        C(blkio_read_bytes), C(blkio_write_bytes), C(blkio_read_ops), C(blkio_write_ops) (those the source provides).
      type: dict
      sample: {"cpu_usage_ns": 347867783472, "net_rx_bytes": 4746}
    gauges:
      description: >-
        Current values, C(memory_usage_bytes), C(memory_working_set_bytes), C(memory_inactive_file_bytes),
        C(memory_rss_bytes), C(memory_cache_bytes), C(memory_limit_bytes) (null = unlimited), C(pids_current),
        C(pids_max) (null = unlimited), C(restart_count).
      type: dict
      sample: {"memory_working_set_bytes": 67510272, "memory_limit_bytes": null}
    rates:
      description: >-
        With O(sample_seconds) > 0, C(cpu_percent) (100 = one core), C(cpu_user_percent), C(cpu_system_percent),
        C(<counter>_per_second) for the other counters and C(interval_seconds). Empty otherwise.
      type: dict
      sample: {"cpu_percent": 99.7, "net_rx_bytes_per_second": 1024.0, "interval_seconds": 2.0}
    disk:
      description: Per path of O(mounts), C(used_bytes), C(limit_bytes), C(free_bytes), C(reserved_bytes), or C(error).
      type: dict
      returned: when O(mounts) is set
    timestamp_ns:
      description: Wall-clock time of the (last) sample, nanoseconds since the epoch.
      type: int
    started_at:
      description: When the container started (engine's timestamp).
      type: str
      returned: when the state group is read
    oom_killed:
      description: Whether the engine reports the container's last exit as an OOM kill.
      type: bool
      returned: when the state group is read
gone:
  description: Names of selected containers that were not running or disappeared during sampling.
  returned: success
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.containers.collector import ALL_METRICS, Collector  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.containers.engine import connect  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (  # noqa: E402
    ContainerStatsError,
    EnginePermissionDenied,
    EngineUnreachable,
    UnknownContainer,
)


def public(sample):
    """A sample without internal fields."""
    return {k: v for k, v in sample.items() if k != "mono_ns"}


def main():
    module = AnsibleModule(
        argument_spec={
            "engine": {"type": "str", "choices": ["auto", "docker", "podman"], "default": "auto"},
            "socket": {"type": "str"},
            "containers": {"type": "list", "elements": "str", "default": []},
            "labels": {"type": "dict", "default": {}},
            "metrics": {"type": "list", "elements": "str", "choices": list(ALL_METRICS), "default": list(ALL_METRICS)},
            "sample_seconds": {"type": "float", "default": 0},
            "mounts": {"type": "list", "elements": "path", "default": []},
            "source": {"type": "str", "choices": ["auto", "cgroup", "api"], "default": "auto"},
            "timeout": {"type": "float", "default": 10},
        },
        supports_check_mode=True,
    )
    params = module.params
    if params["sample_seconds"] < 0:
        module.fail_json(msg="sample_seconds must be 0 or more (got {})".format(params["sample_seconds"]))
    engine = None
    try:
        engine = connect(params["engine"], params["socket"], timeout=params["timeout"])
        collector = Collector(engine, params["source"], params["metrics"], params["mounts"])
        result = collector.collect(params["containers"], params["labels"], params["sample_seconds"])
        described = engine.describe()
    except EngineUnreachable as exc:
        module.fail_json(msg=str(exc), tried=[{"socket": s, "error": e} for s, e in exc.tried])
    except EnginePermissionDenied as exc:
        module.fail_json(msg=str(exc), socket=exc.socket_path, user=exc.user, uid=exc.uid)
    except UnknownContainer as exc:
        module.fail_json(msg=str(exc), unknown=exc.names)
    except ContainerStatsError as exc:
        module.fail_json(msg=str(exc))
    finally:
        if engine is not None:
            engine.close()
    module.exit_json(
        changed=False,
        engine=described,
        containers=[public(s) for s in result["containers"]],
        gone=result["gone"],
    )


if __name__ == "__main__":
    main()
