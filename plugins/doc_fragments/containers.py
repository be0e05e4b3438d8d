# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation of the container engine and sampling options (module and lookup)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  engine:
    description:
      - Which engine to talk to. V(auto) takes the first engine that answers in the documented order.
    type: str
    choices: [auto, docker, podman]
    default: auto
  socket:
    description:
      - Engine endpoint, e.g. C(/run/podman/podman.sock), C(unix:///run/user/1000/podman/podman.sock), or (lookup
        only, needs the C(docker) Python SDK) C(tcp://host:2376), C(ssh://user@host).
      - When not set, tried in order are C(DOCKER_HOST), the user's podman socket
        C($XDG_RUNTIME_DIR/podman/podman.sock) (or C(/run/user/<uid>/podman/podman.sock)), the system podman
        socket C(/run/podman/podman.sock), the Docker socket C(/var/run/docker.sock) and, when none answers and
        O(engine) is not V(docker), the C(podman) command (C(podman ps) and C(podman inspect); statistics then come
        from cgroups only).
      - A path that is a directory or a regular file fails with a message saying so.
    type: str
  labels:
    description:
      - Only containers whose engine labels contain all these key and value pairs. An empty value only
        requires the key.
    type: dict
    default: {}
  metrics:
    description:
      - Metric groups to read. Leaving out groups saves work. V(state) adds the restart count, the start time and
        the OOM flag as far as the engine's container list carries them.
    type: list
    elements: str
    choices: [cpu, memory, network, blkio, pids, state]
    default: [cpu, memory, network, blkio, pids, state]
  sample_seconds:
    description:
      - V(0) reads counters once. A positive value reads twice this many seconds apart and adds rates.
    type: float
    default: 0
  source:
    description:
      - V(auto) reads cgroups when possible and falls back to the engine API per container;
        V(cgroup) only reads cgroups; V(api) only asks the engine.
    type: str
    choices: [auto, cgroup, api]
    default: auto
  timeout:
    description: Seconds to wait for each engine answer (API request or C(podman) command); greater than 0.
    type: float
    default: 10
notes:
  - Network counters always say what the container received (C(net_rx_*)) and sent (C(net_tx_*)). Podman before 4.4
    reports them exchanged in its stats APIs (and in C(podman stats)); the API source corrects that.
  - Memory working set is usage minus inactive file cache (cAdvisor's C(container_memory_working_set_bytes));
    it is absent from the libpod API source, which has no inactive_file figure.
"""
