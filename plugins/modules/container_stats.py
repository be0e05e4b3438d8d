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
  - Read-only; never changes the host. Works for a rootless user through C(become_user); without an API
    socket (podman is daemonless and C(podman.socket) is usually off) containers are found with the C(podman)
    command and read from cgroups, so C(ansible HOST -m quadstats.stack.container_stats) works on a stock host.
  - The result is also returned as the fact C(quadstats_containers), so an ad-hoc run fills a fact cache.
  - Uses only the Python standard library on the managed host.
author:
  - quadstats.stack developers (@quadstats)
extends_documentation_fragment:
  - quadstats.stack.containers
  - quadstats.stack.attributes.READ_ONLY
options:
  containers:
    description:
      - Names or ids (a unique id prefix of at least 4 characters works) of the containers to read.
      - Default is every running container. An unknown name fails the task and names it; a known but stopped
        container is returned with RV(containers[].state) set to its state.
    type: list
    elements: str
    default: []
  mounts:
    description:
      - Paths as seen inside the container (for example a volume's mount point) whose disk usage
        (statvfs, as used and limit bytes) is returned per container. Needs the cgroup path (local engine).
    type: list
    elements: path
    default: []
notes:
  - On cgroup v1 hosts with kernel 6.10 or later, block IO is only accounted for devices that have a
    C(blkio.throttle) rule; without one the block IO counters stay 0 (a kernel behaviour, not this module).
  - Quadlet-managed containers are restarted by systemd, which creates a new container; RV(containers[].gauges)
    C(restart_count) counts only engine restarts (C(--restart) policy). It is null when the engine's container
    list does not carry it (podman 4) rather than costing one request per container.
seealso:
  - plugin: quadstats.stack.container_stats
    plugin_type: lookup
"""

EXAMPLES = r"""
# Ad hoc, as a rootless user on a stock podman host (no podman.socket needed), into a fact cache:
#   ansible web01 -m quadstats.stack.container_stats -b --become-user metrics
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
      description: Docker-compatible API version the engine reports (null through the C(podman) command).
      type: str
      sample: "1.41"
    rootless:
      description: Whether the engine runs rootless (null when unknown).
      type: bool
      sample: false
    origin:
      description: >-
        How the engine was reached, C(socket) (its API socket), C(sdk) (the docker SDK, lookup only) or C(cli)
        (the C(podman) command, when no API socket answered).
      type: str
      sample: socket
    endpoint:
      description: The socket or command used.
      type: str
      sample: unix:///run/podman/podman.sock
    found_by:
      description: >-
        Which candidate found it (C(socket option), C(DOCKER_HOST), C(user podman socket), C(system podman socket),
        C(docker socket), C(podman command)).
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
    error:
      description: >-
        Why a container is not running or gone, or why there are no statistics for a running one (for example
        rootless podman on cgroup v1); counters and gauges are then empty. C(kind) is C(gone) or C(unavailable).
      type: dict
      returned: when a container is not running, gone, or has no statistics
      sample: {"kind": "gone", "message": "container web: not running (state exited)"}
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
        C(cpu_throttled_ns), C(memory_oom_kills), C(net_rx_bytes), C(net_tx_bytes) (what the container received
        and sent), C(net_rx_packets), C(net_tx_packets), C(net_rx_errors), C(net_tx_errors), C(net_rx_dropped),
        C(net_tx_dropped), C(blkio_read_bytes), C(blkio_write_bytes), C(blkio_read_ops), C(blkio_write_ops)
        (those the source provides).
      type: dict
      sample: {"cpu_usage_ns": 347867783472, "net_rx_bytes": 4746}
    gauges:
      description: >-
        Current values, C(memory_usage_bytes), C(memory_working_set_bytes), C(memory_inactive_file_bytes),
        C(memory_rss_bytes), C(memory_cache_bytes), C(memory_limit_bytes) (null = unlimited), C(pids_current),
        C(pids_max) (null = unlimited), C(restart_count) (null when the engine's list does not carry it).
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
    timestamp:
      description: Wall-clock time of the (last) read, seconds since the Unix epoch.
      type: float
      sample: 1795430765.123456
    started_at:
      description: When the container started, seconds since the Unix epoch (null when the engine does not say).
      type: float
      returned: when the state group is read
    oom_killed:
      description: >-
        Whether the engine reports the container's last exit as an OOM kill (null when only the container list
        was read, as for podman).
      type: bool
      returned: when the state group is read
gone:
  description: Names of selected containers that were not running or disappeared during sampling.
  returned: success
  type: list
  elements: str
  sample: []
ansible_facts:
  description: The same result as a fact, so C(ansible all -m quadstats.stack.container_stats) fills a fact cache.
  returned: success
  type: dict
  contains:
    quadstats_containers:
      description: The RV(engine), RV(containers) and RV(gone) of this result under those keys.
      type: dict
      sample: {"engine": {"kind": "podman", "origin": "cli"}, "containers": [], "gone": []}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.containers.engine import ENGINES, connect  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (  # noqa: E402
    ContainerError,
    EnginePermissionDenied,
    EngineUnreachable,
    UnknownContainer,
)
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import (  # noqa: E402
    ALL_METRICS,
    SOURCES,
    ContainerSampler,
    gone_names,
)


def error_details(exc):
    """Structured fields of a failure, beside ``msg`` and ``error_kind``."""
    if isinstance(exc, EngineUnreachable):
        return {"tried": [{"socket": where, "error": why} for where, why in exc.tried]}
    if isinstance(exc, EnginePermissionDenied):
        return {"socket": exc.socket_path, "user": exc.user, "uid": exc.uid}
    if isinstance(exc, UnknownContainer):
        return {"unknown": exc.names}
    return {}


def main():
    module = AnsibleModule(
        argument_spec={
            "engine": {"type": "str", "choices": list(ENGINES), "default": "auto"},
            "socket": {"type": "str"},
            "containers": {"type": "list", "elements": "str", "default": []},
            "labels": {"type": "dict", "default": {}},
            "metrics": {"type": "list", "elements": "str", "choices": list(ALL_METRICS), "default": list(ALL_METRICS)},
            "sample_seconds": {"type": "float", "default": 0},
            "mounts": {"type": "list", "elements": "path", "default": []},
            "source": {"type": "str", "choices": list(SOURCES), "default": "auto"},
            "timeout": {"type": "float", "default": 10},
        },
        supports_check_mode=True,
    )
    params = module.params
    engine = None
    try:
        engine = connect(params["engine"], params["socket"], timeout=params["timeout"])
        sampler = ContainerSampler(engine, params["source"], params["metrics"], params["mounts"])
        samples = sampler.collect(params["containers"], params["labels"], params["sample_seconds"])
        result = {"engine": engine.describe(), "containers": samples, "gone": gone_names(samples)}
    except ContainerError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind, **error_details(exc))
    finally:
        if engine is not None:
            engine.close()
    module.exit_json(changed=False, ansible_facts={"quadstats_containers": result}, **result)


if __name__ == "__main__":
    main()
